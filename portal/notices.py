"""A citizen's in-app notices (what the case workflow told them), read through civic.notices."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from civic.notices import notice_mark_read, notices_for

__all__ = ["notice_list", "notice_read"]


@login_required
def notice_list(request):
    page = Paginator(notices_for(user=request.user), 20).get_page(request.GET.get("page"))
    return render(request, "portal/notices.html", {"page": page})


@login_required
@require_POST
def notice_read(request, pk: int):
    # Looked up among the user's own notices: anyone else's is a 404, not a refusal that confirms it.
    notice = get_object_or_404(notices_for(user=request.user), pk=pk)
    notice_mark_read(notice=notice, user=request.user)
    return redirect("portal:notices")
