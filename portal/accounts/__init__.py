"""Citizen accounts: sign-up with a verification code, login by phone or e-mail, password reset and
the profile page."""
