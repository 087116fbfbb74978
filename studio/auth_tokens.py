"""`Authorization: Bearer <key>` for the JSON API; the operation sees the token's user as `request.auth`."""

from ninja.security import HttpBearer

from studio.services.tokens import api_token_authenticate


class ApiTokenAuth(HttpBearer):
    def authenticate(self, request, token: str):
        api_token = api_token_authenticate(key=token.strip())
        if api_token is None:
            return None  # ninja answers 401
        request.api_token = api_token
        return api_token.user


api_token_auth = ApiTokenAuth()
