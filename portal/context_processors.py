from portal.views import LARGE_TEXT_COOKIE


def portal(request):
    return {"large_text": request.COOKIES.get(LARGE_TEXT_COOKIE) == "1"}
