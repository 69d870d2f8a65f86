from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from backoffice.views import (
    api,
    approvals,
    attention,
    exports,
    health,
    orders,
    preferences,
    requests,
    webhooks,
)

urlpatterns = [
    path("", orders.home, name="home"),
    path("orders/<int:pk>/", orders.order_detail, name="order"),
    path("orders/<int:pk>/items/", orders.order_items, name="order_items"),
    path("payments/<int:pk>/", orders.payment_card, name="payment_card"),
    path("payments/<int:pk>/refund/", orders.refund, name="refund"),
    path("payments/<int:pk>/cancel/", orders.cancel, name="cancel"),
    path("payments/<int:pk>/check/", orders.check_with_provider, name="check"),
    path("exports/", exports.exports, name="exports"),
    path("exports/payments/", exports.payments_csv, name="export_payments"),
    path("exports/<int:pk>/download/", exports.export_download, name="export_download"),
    path("approvals/", approvals.approvals, name="approvals"),
    path("approvals/count/", approvals.approvals_count, name="approvals_count"),
    path("approvals/<int:pk>/approve/", approvals.approve, name="approve"),
    path("approvals/<int:pk>/reject/", approvals.reject, name="reject"),
    path("refund-requests/<int:pk>/withdraw/", approvals.withdraw, name="withdraw"),
    path("my-requests/", requests.my_requests, name="my_requests"),
    path("my-requests/decisions/", requests.decision_notices, name="decision_notices"),
    path("attention/", attention.needs_attention, name="needs_attention"),
    path("operations/<int:pk>/resolve/", attention.resolve, name="resolve"),
    path("api/v1/orders", api.orders, name="api_orders"),
    path("api/v1/openapi.json", api.openapi, name="api_openapi"),
    path("webhooks/vipps/", webhooks.vipps, name="webhook_vipps"),
    path("webhooks/simpleps/", webhooks.simpleps, name="webhook_simpleps"),
    path("webhooks/optty/<str:secret>/", webhooks.optty, name="webhook_optty"),
    path("settings/", preferences.preferences, name="preferences"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
