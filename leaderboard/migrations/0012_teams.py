"""Teams, memberships, participations and invitations; every existing submission moves to its
owner's team of one (docs/architecture.md, "Teams")."""

import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models
from django.utils.text import slugify

NAME_LIMIT = 100


def _free(model, field, value, make):
    candidate, n = value, 1
    while model.objects.filter(**{f"{field}__iexact": candidate}).exists():
        n += 1
        candidate = make(value, n)
    return candidate


def teams_of_one(apps, schema_editor):
    """One team of one per user who has submitted, one participation per benchmark they submitted
    to, and every submission (and board row) counted for it."""
    Submission = apps.get_model("leaderboard", "Submission")
    BoardEntry = apps.get_model("leaderboard", "BoardEntry")
    Team = apps.get_model("leaderboard", "Team")
    Membership = apps.get_model("leaderboard", "Membership")
    Participation = apps.get_model("leaderboard", "Participation")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    owners = Submission.objects.values_list("owner_id", flat=True).distinct()
    for user in User.objects.filter(pk__in=owners).order_by("pk"):
        username = user.username  # historical models lack USERNAME_FIELD; the stock user model
        name = _free(Team, "name", username[:NAME_LIMIT], lambda v, n: f"{v[: NAME_LIMIT - 6]} ({n})")
        slug = _free(Team, "slug", slugify(name) or "team", lambda v, n: f"{v}-{n}")
        team = Team.objects.create(name=name, slug=slug, created_by=user, is_solo=True)
        Membership.objects.create(team=team, user=user)
        benchmarks = Submission.objects.filter(owner=user).values_list("benchmark_id", flat=True)
        Participation.objects.bulk_create(
            Participation(user=user, benchmark_id=b, team=team) for b in sorted(set(benchmarks))
        )
        Submission.objects.filter(owner=user).update(team=team)
        BoardEntry.objects.filter(owner=user).update(team=team, team_name=name)


class Migration(migrations.Migration):

    dependencies = [
        ('leaderboard', '0011_method_family_control_characters'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Team',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('slug', models.SlugField(max_length=108, unique=True)),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('is_solo', models.BooleanField(default=False)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['name'],
                'constraints': [
                    models.UniqueConstraint(django.db.models.functions.text.Lower('name'), name='team_name_unique_ci'),
                    models.UniqueConstraint(condition=models.Q(('is_solo', True)), fields=('created_by',), name='team_one_solo_per_user'),
                ],
            },
        ),
        migrations.CreateModel(
            name='Membership',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('joined', models.DateTimeField(auto_now_add=True)),
                ('team', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='leaderboard.team')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='team_memberships', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['joined', 'pk'],
                'constraints': [models.UniqueConstraint(fields=('team', 'user'), name='membership_unique')],
            },
        ),
        migrations.CreateModel(
            name='Participation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('benchmark', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='leaderboard.benchmark')),
                ('team', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='participations', to='leaderboard.team')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='participations', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('user', 'benchmark'), name='participation_one_team_per_benchmark')],
            },
        ),
        migrations.CreateModel(
            name='Invitation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('accepted', 'Accepted'), ('declined', 'Declined'), ('revoked', 'Revoked')], default='pending', max_length=16)),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('responded_at', models.DateTimeField(blank=True, null=True)),
                ('invited_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('invitee', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='team_invitations', to=settings.AUTH_USER_MODEL)),
                ('team', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='invitations', to='leaderboard.team')),
            ],
            options={
                'ordering': ['-created', '-pk'],
                'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'pending')), fields=('team', 'invitee'), name='invitation_one_pending')],
            },
        ),
        migrations.AddField(
            model_name='submission',
            name='team',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='submissions', to='leaderboard.team'),
        ),
        migrations.AddField(
            model_name='boardentry',
            name='team',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='leaderboard.team'),
        ),
        migrations.AddField(
            model_name='boardentry',
            name='team_name',
            field=models.CharField(blank=True, default='', max_length=100),
        ),
        migrations.RunPython(teams_of_one, migrations.RunPython.noop),
    ]
