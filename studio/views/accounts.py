"""Sign up; log in and out are Django's own views (see studio/urls.py)."""

from django.contrib import messages
from django.contrib.auth import login
from django.db import transaction
from django.shortcuts import redirect, render

from billing.services import credits_starter_grant
from studio.forms import SignupForm


def signup(request):
    if request.user.is_authenticated:
        return redirect("project-list")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            credits_starter_grant(user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Shotcraft, {user.username}! Your starter credits are ready.")
        return redirect("project-list")
    status = 422 if form.errors else 200
    return render(request, "accounts/signup.html", {"form": form}, status=status)
