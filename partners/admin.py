"""Admin of partners, their keys and the request log. Writes go through partners.services; a new key's
text is shown on the page that answers its creation, once, and stored nowhere."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from civic.admin_utils import ReadOnlyAdminMixin
from civic.forms import add_service_errors
from partners.models import ApiKey, ApiRequest, Partner, Scope, Webhook, WebhookAttempt, WebhookDelivery
from partners.services import (
    api_key_create,
    api_key_revoke,
    api_key_validate,
    delivery_replay,
    partner_ensure,
    webhook_create,
    webhook_deactivate,
    webhook_validate,
)
from partners.webhooks import event_types

__all__ = ["ApiKeyAdmin", "ApiRequestAdmin", "PartnerAdmin", "WebhookAdmin", "WebhookDeliveryAdmin"]

def shown_once(model_admin, request, obj, title, *, text: str, intro: str, usage: str = "") -> TemplateResponse:
    """The page answering the creation of a key or a webhook: its secret text, this once."""
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.opts, "original": obj,
               "title": title, "text": text, "intro": intro, "usage": usage}
    return TemplateResponse(request, "admin/partners/shown_once.html", context)


_KEY_COLUMNS = ["prefix", "name", "scopes", "node", "expires_at", "revoked_at", "last_used_at"]


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = readonly_fields = _KEY_COLUMNS
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "active", "user", "created_at"]
    list_filter = ["active"]
    search_fields = ["code", "name"]
    fields = ["code", "name", "contact", "active", "user"]
    readonly_fields = ["user"]
    inlines = [ApiKeyInline]

    def get_readonly_fields(self, request, obj=None):
        return ["code", "user"] if obj is not None else ["user"]

    def save_model(self, request, obj, form, change):
        saved = partner_ensure(actor=request.user, code=obj.code, name=obj.name, contact=obj.contact,
                               active=obj.active)
        obj.pk, obj.user_id, obj.created_at = saved.pk, saved.user_id, saved.created_at

    def has_delete_permission(self, request, obj=None):
        return False  # a partner is deactivated, never deleted: its keys' request log refers to it


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(label=_("scopes"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["partner", "name", "scopes", "node", "rate", "expires_at"]

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                api_key_validate(actor=self.request.user, scopes=data.get("scopes") or [], node=data.get("node"),
                                 expires_at=data.get("expires_at"))
            except ValidationError as exc:
                add_service_errors(self, exc)
            except PermissionDenied as exc:
                self.add_error("scopes", str(exc))
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "partner", "name", "scope_list", "node", "state", "expires_at", "last_used_at",
                    "created_at"]
    list_filter = ["partner"]
    list_select_related = ["partner", "node"]
    search_fields = ["prefix", "name", "partner__name", "partner__code"]
    autocomplete_fields = ["node"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type("ApiKeyCreateForm", (ApiKeyCreateForm,), {"request": request})
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ApiKeyCreateForm.Meta.fields
        return ["partner", "name", "prefix", "scopes", "node", "rate", "expires_at", "revoked_at", "last_used_at",
                "created_at", "created_by"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the request log refers to the key

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        key, request.partners_key_text = api_key_create(
            actor=request.user, partner=data["partner"], scopes=data["scopes"], node=data.get("node"),
            expires_at=data.get("expires_at"), name=data.get("name", ""), rate=data.get("rate", ""),
        )
        obj.pk, obj.prefix, obj.created_at = key.pk, key.prefix, key.created_at

    def response_add(self, request, obj, post_url_continue=None):
        """The key's text, once: it is not kept, so this page is the only place it ever appears."""
        text = request.partners_key_text
        return shown_once(self, request, obj, _("API key created"), text=text,
                          intro=_("The new key for %(partner)s:") % {"partner": obj.partner.name},
                          usage=_("Send it as the header Authorization: Api-Key %(key)s") % {"key": text})

    @admin.display(description=_("scopes"))
    def scope_list(self, key):
        return ", ".join(key.scopes)

    @admin.display(description=_("state"))
    def state(self, key):
        if key.is_revoked:
            return _("revoked")
        return _("expired") if key.is_expired else _("usable")

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        revoked = [api_key_revoke(actor=request.user, key=key) for key in queryset.select_related("partner")]
        self.message_user(request, ngettext("%(count)d key revoked.", "%(count)d keys revoked.", len(revoked))
                          % {"count": len(revoked)}, messages.SUCCESS)


@admin.register(ApiRequest)
class ApiRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "key", "method", "endpoint", "status", "duration_ms"]
    list_filter = ["method", "key__partner"]
    list_select_related = ["key__partner"]
    date_hierarchy = "at"
    # Counting a large log on every page costs more than the page itself.
    show_full_result_count = False
    search_fields = ["key__prefix"]


#
# Webhooks
#


class WebhookCreateForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(label=_("events"), widget=forms.CheckboxSelectMultiple, choices=())

    class Meta:
        model = Webhook
        fields = ["key", "url", "events"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].choices = [(name, name) for name in sorted(event_types())]

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                webhook_validate(key=data["key"], url=data["url"], events=data["events"])
            except ValidationError as exc:
                add_service_errors(self, exc)
        return data


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["url", "key", "event_list", "active", "created_at"]
    list_filter = ["active", "key__partner"]
    list_select_related = ["key__partner"]
    search_fields = ["url", "key__prefix", "key__partner__name"]
    actions = ["deactivate"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = WebhookCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return WebhookCreateForm.Meta.fields if obj is None else ["key", "url", "events", "active", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # deactivated, never deleted: its deliveries are the record of what was sent

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        webhook, request.partners_webhook_secret = webhook_create(
            actor=request.user, key=data["key"], url=data["url"], events=data["events"]
        )
        obj.pk, obj.created_at = webhook.pk, webhook.created_at

    def response_add(self, request, obj, post_url_continue=None):
        """The signing secret, shown here once for the partner to set up its receiver."""
        return shown_once(self, request, obj, _("Webhook created"), text=request.partners_webhook_secret,
                          intro=_("Deliveries to %(url)s are signed with this secret:") % {"url": obj.url})

    @admin.display(description=_("events"))
    def event_list(self, webhook):
        return ", ".join(webhook.events)

    @admin.action(description=_("Deactivate the selected webhooks"), permissions=["change"])
    def deactivate(self, request, queryset):
        done = [webhook_deactivate(actor=request.user, webhook=w) for w in queryset.select_related("key__partner")]
        self.message_user(request, ngettext("%(count)d webhook deactivated.", "%(count)d webhooks deactivated.",
                                            len(done)) % {"count": len(done)}, messages.SUCCESS)


class WebhookAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = readonly_fields = ["at", "status_code", "latency_ms", "error"]
    extra = 0


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "event_type", "webhook", "status", "attempts", "last_status_code",
                    "last_latency_ms", "next_attempt_at"]
    list_filter = ["status", "event_type"]
    list_select_related = ["webhook"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    search_fields = ["=event_id"]
    inlines = [WebhookAttemptInline]
    actions = ["replay"]

    @admin.action(description=_("Replay the selected deliveries"))
    def replay(self, request, queryset):
        try:
            replays = [delivery_replay(actor=request.user, delivery=d) for d in queryset.select_related("webhook")]
        except PermissionDenied as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.",
                                            len(replays)) % {"count": len(replays)}, messages.SUCCESS)
