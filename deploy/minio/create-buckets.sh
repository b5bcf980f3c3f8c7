#!/bin/sh
# One-shot (minio/mc image): create the media bucket and the media service's own MinIO user, limited to that bucket.
# Idempotent. Credentials come from the environment only.
set -eu
: "${MINIO_ENDPOINT:=http://minio:9000}"
: "${MINIO_ROOT_USER:?MINIO_ROOT_USER is required}"
: "${MINIO_ROOT_PASSWORD:?MINIO_ROOT_PASSWORD is required}"
: "${S3_BUCKET:=sharemyshows-media}"
: "${S3_ACCESS_KEY_ID:?S3_ACCESS_KEY_ID is required}"
: "${S3_SECRET_ACCESS_KEY:?S3_SECRET_ACCESS_KEY is required}"

i=0
until mc alias set sms "$MINIO_ENDPOINT" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then echo "minio not reachable at $MINIO_ENDPOINT" >&2; exit 1; fi
  sleep 2
done

mc mb --ignore-existing "sms/$S3_BUCKET"
# objects are private: reads go through presigned URLs or the media service
mc anonymous set none "sms/$S3_BUCKET"

POLICY=/tmp/sharemyshows-media-policy.json
cat > "$POLICY" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads",
                                   "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"],
     "Resource": ["arn:aws:s3:::$S3_BUCKET"]},
    {"Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::$S3_BUCKET/*"]}
  ]
}
JSON
# Unfinished multipart uploads (a client or the media service died mid-upload) are aborted a day after they started.
# S3 servers honour this rule; MinIO refuses it and expires them itself (MINIO_API_STALE_UPLOADS_EXPIRY in
# docker-compose.yml), so a refusal is not an error. The media service's storage sweep aborts them as well.
LIFECYCLE=/tmp/sharemyshows-media-lifecycle.json
cat > "$LIFECYCLE" <<JSON
{
  "Rules": [
    {"ID": "sharemyshows-abort-incomplete-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}
  ]
}
JSON
if mc ilm rule import "sms/$S3_BUCKET" < "$LIFECYCLE" >/dev/null 2>&1; then
  echo "lifecycle: unfinished multipart uploads aborted after 1 day"
else
  echo "lifecycle: this server refused AbortIncompleteMultipartUpload; MINIO_API_STALE_UPLOADS_EXPIRY applies"
fi

mc admin user add sms "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY"
mc admin policy create sms sharemyshows-media "$POLICY"
mc admin policy attach sms sharemyshows-media --user "$S3_ACCESS_KEY_ID" 2>/dev/null || true  # already attached
echo "bucket $S3_BUCKET and user $S3_ACCESS_KEY_ID ready"
