from django.contrib import admin
from django.urls import include, path

from dashboard.api import api
from hub import views
from receivers.outbox.mail import mail_written

admin.site.site_header = "The hub"
admin.site.site_title = "The hub"
admin.site.index_title = "Events, rules and tickets"

urlpatterns = [
    path("health", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
    path("", views.home, name="home"),
    path("admin/mail/", admin.site.admin_view(mail_written), name="mail-written"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("", include("dashboard.urls")),
]
