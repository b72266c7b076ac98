from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("leaderboard", "0009_licence_acceptance"),
    ]

    operations = [
        migrations.AddField(
            model_name="submission",
            name="is_reference",
            field=models.BooleanField(default=False),
        ),
    ]
