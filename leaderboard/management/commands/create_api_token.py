"""Create an API token for a user and print it alone on stdout (for scripts)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from leaderboard.api.tokens import create_token
from leaderboard.models import TokenScope


class Command(BaseCommand):
    help = "Create an API token for USERNAME; prints the token (shown once) alone on stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--scope", choices=TokenScope.values, default=TokenScope.SUBMIT)
        parser.add_argument("--name", default="", help="what the token is for")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user {options['username']!r}")
        token, clear = create_token(user, scope=options["scope"], name=options["name"])
        self.stderr.write(f"created {token.scope} token {token.prefix}… for {user.get_username()}")
        self.stdout.write(clear)
