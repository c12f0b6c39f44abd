from rest_framework import serializers

from surveys.models import Survey


class SurveyCreateInputSerializer(serializers.Serializer):
    study = serializers.SlugField(help_text="The study's slug; you must be its owner.")
    slug = serializers.SlugField(max_length=80, help_text="The survey's slug, unique on the site.")
    definition = serializers.JSONField(required=False, help_text="The survey definition (see docs/surveys.md).")
    from_codebook = serializers.ListField(
        child=serializers.SlugField(),
        required=False,
        help_text="Dimension codes of the study's codebook to generate the survey from (instead of a definition).",
    )
    title = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate(self, attrs):
        if ("definition" in attrs) == bool(attrs.get("from_codebook")):
            raise serializers.ValidationError(
                "Give either 'definition' (a survey document) or 'from_codebook' (a list of dimension codes)."
            )
        return attrs


class SurveySerializer(serializers.ModelSerializer):
    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    version = serializers.IntegerField(source="current_version.number", allow_null=True, read_only=True)

    class Meta:
        model = Survey
        fields = ["slug", "study", "title", "status", "version", "closes_at", "open_link_cap", "created_at"]


class SurveyDetailSerializer(SurveySerializer):
    class Meta(SurveySerializer.Meta):
        fields = [*SurveySerializer.Meta.fields, "definition"]


class RespondInputSerializer(serializers.Serializer):
    consent = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Needed on the first call; false declines."
    )
    answers = serializers.DictField(
        child=serializers.JSONField(allow_null=True), required=False, default=dict, help_text="Question code -> answer."
    )
    submit = serializers.BooleanField(required=False, default=False, help_text="Submit (else only saved).")


class RespondDefinitionSerializer(serializers.Serializer):
    survey = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField(help_text="new, in_progress (answers saved) or submitted.")
    definition = serializers.JSONField()
    answers = serializers.JSONField(help_text="Answers saved so far.")


class RespondResultSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="declined (nothing stored), in_progress or submitted.")
    message = serializers.CharField()
    missing = serializers.ListField(child=serializers.CharField(), help_text="Required questions not answered yet.")
    token = serializers.CharField(allow_null=True, help_text="Your own link's token (open link only), shown once.")
    url = serializers.CharField(allow_null=True, help_text="Your own link to come back with (open link only).")
