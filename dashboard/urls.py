from django.urls import path

from dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("live/", views.live, name="live"),
    path("live/events/", views.live_events, name="live-events"),
    path("jobs/<str:task_id>/", views.job, name="job"),
    path("tickets/<int:pk>/", views.ticket, name="ticket"),
    path("tickets/key/<str:key>/", views.ticket_by_key, name="ticket-by-key"),
    path("errors/", views.errors, name="errors"),
    path("failures/<int:pk>/replay/", views.replay, name="replay"),
]
