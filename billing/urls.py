from django.urls import path

from billing import views

urlpatterns = [
    path("", views.credits_page, name="credits"),
    path("buy/<slug:slug>/", views.pack_buy, name="credits-buy"),
    path("test-buy/<slug:slug>/", views.pack_test_buy, name="credits-test-buy"),
    path("purchases/success/", views.purchase_success, name="credits-purchase-success"),
    path("purchases/<int:purchase_id>/", views.purchase_receipt, name="credits-receipt"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
]
