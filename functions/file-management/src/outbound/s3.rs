//! [`ObjectStorage`] on the service's two S3 buckets: presigned URLs (at most
//! [`PRESIGN_SECONDS`]), reads bounded by size, checked files written to the results bucket with
//! their SHA-256 for S3 to verify, erasure of every version, and streamed uploads of report files.

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use clinic_shared::aws::error_text;
use jiff::{SignedDuration, Timestamp};

use crate::domain::values::PRESIGN_SECONDS;
use crate::domain::{Bucket, ObjectStorage, Presigned, StorageError, StoredObject};

/// An S3 client for these buckets: path-style addressing when an endpoint is overridden (the
/// emulator has no virtual-host buckets), and checksums only where S3 requires them, so a
/// presigned PUT carries no checksum of an empty body.
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    let path_style = sdk.endpoint_url().is_some() || clinic_shared::aws::s3_force_path_style();
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(path_style)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    Client::from_conf(config)
}

/// The uploads and results buckets.
#[derive(Clone)]
pub struct S3Storage {
    client: Client,
    uploads: String,
    results: String,
}

fn unavailable<E, R>(err: &aws_sdk_s3::error::SdkError<E, R>) -> StorageError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StorageError::Unavailable(error_text(err))
}

fn is_not_found<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(service) => {
            matches!(service.err().code(), Some("NoSuchKey" | "NotFound"))
                || service.raw().status().as_u16() == 404
        }
        _ => false,
    }
}

fn presign_config() -> Result<PresigningConfig, StorageError> {
    PresigningConfig::expires_in(Duration::from_secs(PRESIGN_SECONDS))
        .map_err(|e| StorageError::Unavailable(e.to_string()))
}

fn presigned(request: &PresignedRequest) -> Presigned {
    Presigned {
        url: request.uri().to_string(),
        headers: request
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_string()))
            .collect(),
        expires_at: Timestamp::now() + SignedDuration::from_secs(PRESIGN_SECONDS as i64),
    }
}

/// A file name safe inside a quoted `Content-Disposition` parameter.
fn disposition(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"")
}

impl S3Storage {
    pub fn new(client: Client, uploads: impl Into<String>, results: impl Into<String>) -> Self {
        Self {
            client,
            uploads: uploads.into(),
            results: results.into(),
        }
    }

    fn bucket(&self, bucket: Bucket) -> &str {
        match bucket {
            Bucket::Uploads => &self.uploads,
            Bucket::Results => &self.results,
        }
    }
}

impl ObjectStorage for S3Storage {
    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
    ) -> Result<Presigned, StorageError> {
        let request = self
            .client
            .put_object()
            .bucket(&self.uploads)
            .key(key)
            .content_type(content_type)
            .content_length(i64::try_from(size).unwrap_or(i64::MAX))
            .presigned(presign_config()?)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(presigned(&request))
    }

    async fn presign_download(
        &self,
        bucket: Bucket,
        key: &str,
        file_name: &str,
    ) -> Result<Presigned, StorageError> {
        let request = self
            .client
            .get_object()
            .bucket(self.bucket(bucket))
            .key(key)
            .response_content_disposition(disposition(file_name))
            .presigned(presign_config()?)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(presigned(&request))
    }

    async fn size_of(&self, bucket: Bucket, key: &str) -> Result<u64, StorageError> {
        match self
            .client
            .head_object()
            .bucket(self.bucket(bucket))
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .content_length
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0)),
            Err(err) if is_not_found(&err) => Err(StorageError::NotFound),
            Err(err) => Err(unavailable(&err)),
        }
    }

    async fn read(
        &self,
        bucket: Bucket,
        key: &str,
        max_bytes: u64,
    ) -> Result<StoredObject, StorageError> {
        let out = match self
            .client
            .get_object()
            .bucket(self.bucket(bucket))
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if is_not_found(&err) => return Err(StorageError::NotFound),
            Err(err) => return Err(unavailable(&err)),
        };
        let size = out
            .content_length
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        if size > max_bytes {
            return Err(StorageError::TooLarge(size));
        }
        let content_type = out.content_type.clone();
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))?
            .into_bytes();
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max_bytes {
            return Err(StorageError::TooLarge(bytes.len() as u64));
        }
        Ok(StoredObject {
            bytes: bytes.to_vec(),
            content_type,
        })
    }

    async fn store_result(
        &self,
        result_key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        sha256_hex: &str,
    ) -> Result<(), StorageError> {
        let digest = hex::decode(sha256_hex)
            .map_err(|e| StorageError::Unavailable(format!("bad sha256: {e}")))?;
        self.client
            .put_object()
            .bucket(&self.results)
            .key(result_key)
            .content_type(content_type)
            .checksum_sha256(aws_smithy_types::base64::encode(digest))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn delete(&self, bucket: Bucket, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(self.bucket(bucket))
            .key(key)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn erase(&self, bucket: Bucket, key: &str) -> Result<(), StorageError> {
        let name = self.bucket(bucket);
        let listed = self
            .client
            .list_object_versions()
            .bucket(name)
            .prefix(key)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let versions = listed
            .versions()
            .iter()
            .filter(|v| v.key() == Some(key))
            .map(|v| (v.key(), v.version_id()))
            .chain(
                listed
                    .delete_markers()
                    .iter()
                    .filter(|m| m.key() == Some(key))
                    .map(|m| (m.key(), m.version_id())),
            );
        let mut objects = Vec::new();
        for (object_key, version) in versions {
            let identifier = ObjectIdentifier::builder()
                .key(object_key.unwrap_or(key))
                .set_version_id(version.map(str::to_string))
                .build()
                .map_err(|e| StorageError::Unavailable(e.to_string()))?;
            objects.push(identifier);
        }
        if objects.is_empty() {
            return Ok(());
        }
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let out = self
            .client
            .delete_objects()
            .bucket(name)
            .delete(delete)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if !out.errors().is_empty() {
            return Err(StorageError::Unavailable(format!(
                "{} versions not deleted",
                out.errors().len()
            )));
        }
        Ok(())
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        self.client
            .put_object()
            .bucket(&self.results)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_quoted_ascii() {
        assert_eq!(
            disposition("laudo \"final\"/ção.pdf"),
            "attachment; filename=\"laudo _final____o.pdf\""
        );
    }
}
