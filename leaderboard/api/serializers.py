"""API serializers. The submission JSON itself is built by ``leaderboard.serializers`` (one shape
everywhere); the serializer here only documents it."""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.validators import slug_re
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from leaderboard.models import Benchmark, Protocol, Status, Submission, Task, Track
from leaderboard.models.validators import (
    MAX_BACKBONE_ID,
    MAX_BACKBONE_ROLE,
    MAX_BACKBONES,
    SINGLE_LINE_PATTERN,
    TEXT_FIELD_VALIDATORS,
    schema_pattern,
    strip_unstorable,
    validate_backbones,
)
from leaderboard.services.phases import phase_json

SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="stable, machine-readable error code")
    detail = serializers.CharField(help_text="what went wrong, for humans")
    field = serializers.CharField(required=False, help_text="the request field at fault")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="every field's messages (validation errors only)",
    )
    next_opens = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="phase_closed only: when the next phase that takes the submission opens (UTC)",
    )
    phase = serializers.CharField(
        required=False, allow_null=True, help_text="phase_closed only: the open phase's slug"
    )


class PhaseQuotasSerializer(serializers.Serializer):
    scored = serializers.IntegerField(allow_null=True, help_text="null: the server's setting")
    in_flight = serializers.IntegerField(allow_null=True)
    attempts = serializers.IntegerField(allow_null=True)


class PhaseSerializer(serializers.Serializer):
    """A benchmark's phase (``leaderboard.services.phases.phase_json``)."""

    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    opens = serializers.DateTimeField()
    closes = serializers.DateTimeField()
    state = serializers.ChoiceField(choices=["upcoming", "open", "closed"])
    # Plain values as choices: an enum of their own (TracksEnum), not a second name for TrackEnum.
    tracks = serializers.ListField(child=serializers.ChoiceField(choices=list(Track.values)))
    protocols = serializers.ListField(child=serializers.ChoiceField(choices=list(Protocol.values)))
    checkpoints_required = serializers.BooleanField()
    quotas = PhaseQuotasSerializer()


class ModalitySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    tasks = serializers.ListField(child=serializers.CharField())


class BenchmarkSerializer(serializers.ModelSerializer):
    modalities = serializers.SerializerMethodField()
    phases = serializers.SerializerMethodField()

    class Meta:
        model = Benchmark
        fields = ["slug", "name", "description", "synthetic", "modalities", "phases"]

    @extend_schema_field(PhaseSerializer(many=True))
    def get_phases(self, obj: Benchmark) -> list[dict[str, Any]]:
        """Empty for a benchmark that is always open."""
        return [phase_json(p) for p in obj.phases.all()]

    @extend_schema_field(ModalitySerializer(many=True))
    def get_modalities(self, obj: Benchmark) -> list[dict[str, Any]]:
        return [
            {"slug": m.slug, "name": m.name, "tasks": sorted(t.slug for t in m.tasks.all())}
            for m in obj.modalities.all()
        ]


class SplitCountSerializer(serializers.Serializer):
    n_images = serializers.IntegerField()
    n_patients = serializers.IntegerField()


class TaskSerializer(serializers.ModelSerializer):
    benchmark = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    modality = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    classes = serializers.ListField(child=serializers.CharField())
    num_classes = serializers.IntegerField()
    accepts_predictions = serializers.BooleanField()
    splits = serializers.DictField(child=SplitCountSerializer(), source="split_counts")
    download_url = serializers.SerializerMethodField()
    sample_url = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "slug", "name", "description", "benchmark", "modality", "organ", "label_type",
            "classes", "num_classes", "primary_metric", "image_size", "channels", "version",
            "source", "license", "citation", "test_images_public", "accepts_predictions",
            "ood_level", "synthetic", "splits", "download_url", "sample_url",
        ]  # fmt: skip

    def _url(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_download_url(self, obj: Task) -> str:
        return self._url(f"/api/v1/tasks/{obj.slug}/download")

    def get_sample_url(self, obj: Task) -> str | None:
        return self._url(f"/api/v1/tasks/{obj.slug}/sample") if obj.test_images_public else None


class SubmissionJsonSerializer(serializers.Serializer):
    """The submission JSON of docs/api.md (documentation only; built by ``submission_json``)."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)
    error = serializers.CharField(allow_null=True)
    track = serializers.ChoiceField(choices=Track.choices)
    protocol = serializers.ChoiceField(choices=Protocol.choices)
    method_name = serializers.CharField()
    verified_tunable_params = serializers.IntegerField(allow_null=True)
    queue_position = serializers.IntegerField(allow_null=True)
    estimated_wait_s = serializers.IntegerField(allow_null=True)
    results = serializers.JSONField(allow_null=True, help_text="the score JSON (docs/formats.md)")


class SubmissionListItemSerializer(SubmissionJsonSerializer):
    benchmark = serializers.CharField()
    created = serializers.DateTimeField()
    is_public = serializers.BooleanField()


class SubmissionLogSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)
    log = serializers.CharField(allow_blank=True, help_text="the user log")
    staff_log = serializers.CharField(
        allow_null=True, allow_blank=True, help_text="the staff log (staff only; else null)"
    )


def _free_role(name: str, taken: dict[str, str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        suffix = f" ({n})"
        candidate = name[: MAX_BACKBONE_ROLE - len(suffix)] + suffix
    return candidate


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": MAX_BACKBONES,
        "additionalProperties": {
            "type": "string",
            "maxLength": MAX_BACKBONE_ID,
            "pattern": schema_pattern(SINGLE_LINE_PATTERN),
        },
    }
)
class BackbonesField(serializers.Field):
    """A JSON object ``{"<role>": "<backbone id>"}`` sent as a form field.

    Ids with control characters are refused (the schema's pattern says so). Role names lose
    theirs instead: OpenAPI 3.0 has no ``propertyNames``, so the schema cannot state a rule on
    keys, and the API accepts every object the schema allows. Two names that become one (``a``
    and ``a\\x07``) stay two roles: the later is numbered, ``a (2)``."""

    default_error_messages = {
        "invalid": "must be a JSON object mapping roles to backbone ids",
    }

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else {}
            except json.JSONDecodeError:
                self.fail("invalid")
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            self.fail("invalid")
        roles: dict[str, str] = {}
        for key, value in data.items():
            roles[_free_role(strip_unstorable(key), roles)] = value
        return roles

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field({"type": "string", "pattern": schema_pattern(slug_re.pattern)})
class BenchmarkSlugField(serializers.SlugRelatedField):
    """A benchmark by its slug; what cannot be a slug is refused before the query (PostgreSQL
    would fail on a NUL in it)."""

    default_error_messages = {"does_not_exist": "no benchmark with this slug"}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not slug_re.match(data):
            self.fail("does_not_exist")
        return super().to_internal_value(data)


class SubmissionCreateSerializer(serializers.ModelSerializer):
    """The upload's fields: lengths, ranges, choices and URL rules come from the model fields."""

    file = serializers.FileField(help_text="the .zip (predictions or checkpoint)")
    sha256 = serializers.RegexField(
        SHA256.pattern,
        required=False,
        help_text="hex sha256 of the file; a mismatch is refused (recommended)",
    )
    benchmark = BenchmarkSlugField(
        slug_field="slug", queryset=Benchmark.objects.all(), help_text="benchmark slug"
    )
    team = serializers.SlugField(
        required=False,
        help_text="the team's slug; default: the team you submit for on this benchmark, else your "
        "only team, else your team of one (docs/api.md, Teams)",
    )
    backbones = BackbonesField(
        required=False,
        validators=[validate_backbones],
        help_text='JSON object, e.g. {"backbone": "vit-b16-in21k"}; role names of at most '
        f"{MAX_BACKBONE_ROLE} characters (control characters are removed from them)",
    )

    class Meta:
        model = Submission
        fields = [
            "file", "sha256", "benchmark", "track", "protocol", "method_name", "method_family",
            "backbones", "pretraining", "reported_tunable_params", "seed", "description",
            "paper_url", "code_url", "is_public", "idempotency_key", "team",
        ]  # fmt: skip
        # A multipart form has no null: leave a field out instead.
        extra_kwargs = {
            "seed": {"allow_null": False},
            "reported_tunable_params": {"allow_null": False},
            "method_name": {"required": False, "allow_blank": True},
            "protocol": {"help_text": "default full"},
            "pretraining": {"help_text": "default unknown"},
            # A form without the box would read as false: say true explicitly.
            "is_public": {"default": True},
            "idempotency_key": {
                "allow_null": False,
                "help_text": "a retried upload with the same key returns the first submission",
            },
        }

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # The request calls it tunable_params (the server verifies checkpoints' own count).
        tunable = fields.pop("reported_tunable_params")
        tunable.source = "reported_tunable_params"
        fields["tunable_params"] = tunable
        for name, validator in TEXT_FIELD_VALIDATORS.items():
            fields[name].validators.append(validator)  # control characters: as the web form
        return fields

    def validate_sha256(self, value: str) -> str:
        return value.strip().lower()


class CellSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)


class LeaderboardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(allow_null=True, help_text="shared on ties; null: unranked")
    tied_with_leader = serializers.BooleanField(
        help_text="the paired-bootstrap 95% CI of the difference with the leader contains 0"
    )
    submission_id = serializers.IntegerField()
    method_name = serializers.CharField()
    method_family = serializers.CharField(allow_blank=True)
    owner = serializers.CharField(help_text="the user who submitted the row's entry")
    team = serializers.CharField(
        help_text="the team the entry counts for; rows collapse per team and method"
    )
    is_baseline = serializers.BooleanField()
    is_reference = serializers.BooleanField(
        help_text="a reference row (pixel logistic regression): shown, never ranked"
    )
    protocol = serializers.CharField()
    track = serializers.CharField()
    pretraining = serializers.CharField()
    tunable_params = serializers.IntegerField(allow_null=True)
    params_verified = serializers.BooleanField()
    complete = serializers.BooleanField()
    test_id = CellSerializer()
    test_ood = CellSerializer()
    ood_gap = serializers.FloatField(allow_null=True)
    all_tasks = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="{test_id, test_ood}: the mean over every task entered, where the board "
        "averages fewer (null otherwise)",
    )
    tasks = serializers.DictField(child=CellSerializer(), help_text="per task, on the split/metric")


class LadderNoteSerializer(serializers.Serializer):
    protocol = serializers.CharField()
    team = serializers.CharField()
    method = serializers.CharField()
    submission_id = serializers.IntegerField(help_text="the entry whose score stays shown")
    held = serializers.IntegerField(
        help_text="later attempts that made no significant improvement on it"
    )


class LadderSerializer(serializers.Serializer):
    margin = serializers.FloatField(
        help_text="a new entry is shown when the paired 95% CI's lower end of new − shown exceeds it"
    )
    split = serializers.CharField(help_text="the split the ladder judges on")
    notes = LadderNoteSerializer(many=True, help_text="no significant improvement, per team")


class LeaderboardPageSerializer(serializers.Serializer):
    benchmark = serializers.CharField()
    board = serializers.CharField(
        help_text="'overall', the modality slug, or '~checkpoint-only' (board=checkpoint-only)"
    )
    filters = serializers.DictField(child=serializers.CharField(), help_text="non-default filters")
    tasks = serializers.ListField(child=serializers.CharField())
    page = serializers.IntegerField()
    num_pages = serializers.IntegerField()
    ipage = serializers.IntegerField()
    num_ipages = serializers.IntegerField()
    results = LeaderboardRowSerializer(many=True, help_text="ranked rows, in the page's order")
    incomplete = LeaderboardRowSerializer(many=True, help_text="entries missing a task")
    ladder = LadderSerializer(
        required=False, help_text="only when the benchmark reports under the Ladder"
    )


class SnapshotExportsSerializer(serializers.Serializer):
    csv = serializers.CharField()
    json = serializers.CharField()


class SnapshotSerializer(serializers.Serializer):
    """A frozen board snapshot (``leaderboard.services.snapshots.snapshot_meta``)."""

    id = serializers.IntegerField()
    slug = serializers.SlugField()
    title = serializers.CharField()
    url = serializers.CharField(help_text="permanent page: /snapshots/<slug>/ (or /<id>/)")
    benchmark = serializers.CharField()
    benchmark_name = serializers.CharField()
    board = serializers.CharField(help_text="'overall', a modality slug or '~checkpoint-only'")
    board_name = serializers.CharField()
    phase = serializers.CharField(allow_null=True, help_text="the phase whose close froze it")
    phase_name = serializers.CharField(allow_blank=True)
    # plain text, not choices: the submission's Protocol enum keeps its one name in the schema
    protocol = serializers.CharField(help_text="full or 1k")
    split = serializers.CharField(help_text="test_id or test_ood: the split it ranks by")
    track = serializers.CharField(allow_blank=True, help_text="empty: both tracks")
    filters = serializers.DictField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    benchmark_version = serializers.CharField()
    evaluator_version = serializers.CharField(help_text="the server's, when frozen")
    evaluator_versions = serializers.ListField(
        child=serializers.CharField(), help_text="those the rows were scored with"
    )
    task_versions = serializers.DictField(child=serializers.CharField())
    tasks = serializers.ListField(child=serializers.CharField())
    num_rows = serializers.IntegerField()
    exports = SnapshotExportsSerializer()


class SnapshotDetailSerializer(serializers.Serializer):
    """A snapshot with its rows: what its JSON export holds (docs/formats.md)."""

    snapshot = SnapshotSerializer()
    citation = serializers.CharField(help_text="a BibTeX entry built from the snapshot's fields")
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(
        child=serializers.DictField(), help_text="one object per row, keyed by the columns"
    )
