from django.conf import settings
from django.http import HttpRequest


def links(request: HttpRequest) -> dict[str, str]:
    return {"flower_url": settings.FLOWER_URL}
