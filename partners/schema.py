"""The Api-Key authentication in the OpenAPI schema (imported by PartnersConfig.ready())."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

__all__ = ["ApiKeyAuthenticationScheme"]


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "partners.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_requirement(self, auto_schema):
        from partners.permissions import ApiKeyScope

        # Only endpoints that check a key's scopes accept keys (partners.authentication).
        if ApiKeyScope not in getattr(auto_schema.view, "permission_classes", ()):
            return None
        return {self.name: []}

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A partner's API key: `Authorization: Api-Key <key>`. The key's scopes decide which "
                           "endpoints it may call (403 otherwise) and its subtree what it sees there; a revoked, "
                           "expired or unknown key answers 401, a key over its rate 429 with Retry-After.",
        }
