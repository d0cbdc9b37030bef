#!/usr/bin/env bash
# The weekly timeouts job as a Cloud Run Job started by Cloud Scheduler: build and push the
# image, create or update the job, and schedule it. Idempotent: a second run updates both.
#
# Settings, from the environment (the first three are required):
#   PROJECT        the Google Cloud project the job runs in (and whose logs it reads)
#   REGION         e.g. europe-west1
#   BUCKET         the bucket holding the lake (gs://$BUCKET/lake) and the job's outputs
#   ENV_NAME       the env to recommend for (default staging)
#   SERVICE        the Cloud Run service whose startups are read (default: all services)
#   DEPLOYED       the config the deployment ships, as an object path in the bucket (default
#                  ENV_NAME/deployed.json); the deployment pipeline copies the file it ships
#                  there, and `recommend --deployed` carries over from it (the project file's
#                  `deployed`), so a value raised by hand is never lowered for want of evidence
#   JOB            the job's name (default analyzer-weekly-$ENV_NAME)
#   SCHEDULE       cron, in Cloud Scheduler's syntax (default "17 6 * * 1": Mondays 06:17)
#   TIME_ZONE      the schedule's zone (default Etc/UTC)
#   REPOSITORY     the Artifact Registry repository (default analyzer)
#   TAG            the image tag (default: the analyzer version the image is built from)
#   JOB_SA         the job's service account (default analyzer-job@$PROJECT.iam.gserviceaccount.com)
#   SCHEDULER_SA   the scheduler's service account (default analyzer-scheduler@$PROJECT...)
# Run from the analyzer repository's root (where the Dockerfile is). See README.md beside this
# file for the roles each service account needs.
set -euo pipefail

project=${PROJECT:?set PROJECT}
region=${REGION:?set REGION}
bucket=${BUCKET:?set BUCKET}
env_name=${ENV_NAME:-staging}
deployed=${DEPLOYED:-${env_name}/deployed.json}
job=${JOB:-analyzer-weekly-${env_name}}
schedule=${SCHEDULE:-17 6 * * 1}
time_zone=${TIME_ZONE:-Etc/UTC}
repository=${REPOSITORY:-analyzer}
tag=${TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)}
job_sa=${JOB_SA:-analyzer-job@${project}.iam.gserviceaccount.com}
scheduler_sa=${SCHEDULER_SA:-analyzer-scheduler@${project}.iam.gserviceaccount.com}
image="${region}-docker.pkg.dev/${project}/${repository}/analyzer:${tag}"

# The job's steps, run by the image's shell: the lake lives in the bucket (--store gs://...);
# the exported config and the report are written to the bucket too, through a Cloud Storage
# volume mounted at /mnt/out (plain files; the lake itself never goes through the mount).
service_flag=""
if [[ -n ${SERVICE:-} ]]; then
    service_flag="--service ${SERVICE}"
fi
steps="set -e
analyze collect --env ${env_name} --project ${project} ${service_flag}
analyze recommend --env ${env_name} --deployed /mnt/out/${deployed}
analyze report --env ${env_name} --out /mnt/out/${env_name}/report.html
analyze export --env ${env_name} --out /mnt/out/${env_name}/timeouts.json"

# 1. The image, built by Cloud Build from the Dockerfile and pushed to Artifact Registry.
gcloud artifacts repositories describe "$repository" --project "$project" --location "$region" \
    >/dev/null 2>&1 ||
    gcloud artifacts repositories create "$repository" --project "$project" \
        --location "$region" --repository-format docker
gcloud builds submit --project "$project" --region "$region" --tag "$image" .

# 2. The job: create it the first time, update it after.
action=create
if gcloud run jobs describe "$job" --project "$project" --region "$region" >/dev/null 2>&1; then
    action=update
fi
gcloud run jobs "$action" "$job" --project "$project" --region "$region" \
    --image "$image" \
    --service-account "$job_sa" \
    --command sh \
    --args=-c,"$steps" \
    --set-env-vars "ANALYZER_STORE=gs://${bucket}/lake,NO_COLOR=1" \
    --add-volume "name=out,type=cloud-storage,bucket=${bucket}" \
    --add-volume-mount "volume=out,mount-path=/mnt/out" \
    --tasks 1 --max-retries 1 --task-timeout 3600s \
    --cpu 2 --memory 2Gi

# 3. The schedule: Cloud Scheduler calls the Run Admin API's jobs.run as the scheduler's
# service account (which holds roles/run.invoker on the job).
uri="https://run.googleapis.com/v2/projects/${project}/locations/${region}/jobs/${job}:run"
if gcloud scheduler jobs describe "$job" --project "$project" --location "$region" \
    >/dev/null 2>&1; then
    verb=update
else
    verb=create
fi
gcloud scheduler jobs "$verb" http "$job" --project "$project" --location "$region" \
    --schedule "$schedule" --time-zone "$time_zone" \
    --uri "$uri" --http-method POST \
    --oauth-service-account-email "$scheduler_sa"

echo "job $job runs \"$schedule\" ($time_zone); run it now: gcloud run jobs execute $job --region $region --project $project"
