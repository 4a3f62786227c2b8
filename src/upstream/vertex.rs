//! Vertex AI OAuth2 access tokens from a service-account key (`vertex_credentials`), without I/O on the
//! request path: this module makes the signed JWT assertion and the token request body, reads the token
//! endpoint's answer, and caches the token; the caller does the HTTP call (through Pingora's connector) and
//! passes the clock in.
//!
//! The flow (Google's "OAuth 2.0 for server to server applications", RFC 7523):
//! 1. a JWT signed with the service account's RSA key (RS256), claims `iss` = `client_email`,
//!    `scope` = [`SCOPE`], `aud` = the key's `token_uri`, `iat` = now, `exp` = now + 1 h;
//! 2. `POST token_uri` with `Content-Type: application/x-www-form-urlencoded`, body
//!    `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>` ([`VertexAuth::token_request`]);
//! 3. the answer `{"access_token", "expires_in", "token_type": "Bearer"}` ([`VertexAuth::parse_token_response`])
//!    is cached until [`REFRESH_MARGIN`] before it expires ([`VertexAuth::store_token`], [`VertexAuth::cached_token`])
//!    and sent as `Authorization: Bearer <token>`.
//!
//! Only service-account keys (`"type": "service_account"`) are read; user credentials from
//! `gcloud auth application-default login` and workload identity need a metadata server or a refresh
//! token and are refused with a message saying so.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// The OAuth scope Vertex AI calls need.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, for a key file without `token_uri`.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// A cached token is replaced this long before it expires, so no request starts with a token about to lapse.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The lifetime asked for in the assertion (Google's maximum).
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// The form-encoded `grant_type` of the JWT bearer flow.
const GRANT_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";

/// A service account's signing key and its cached access token.
pub struct VertexAuth {
    client_email: String,
    token_uri: String,
    project_id: Option<String>,
    key_id: Option<String>,
    key: EncodingKey,
    cache: Mutex<Option<CachedToken>>,
}

/// An access token and when to stop using it.
struct CachedToken {
    token: String,
    refresh_at: Instant,
}

/// The members of a service-account key file we read.
#[derive(serde::Deserialize)]
struct ServiceAccountKey<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client_email: Cow<'a, str>,
    #[serde(borrow)]
    private_key: Cow<'a, str>,
    #[serde(borrow, default)]
    private_key_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    token_uri: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    project_id: Option<Cow<'a, str>>,
}

/// The JWT claims of the assertion.
#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

impl VertexAuth {
    /// Reads `vertex_credentials`: the key file's JSON itself, or the path of the file.
    ///
    /// Reading the file is the only I/O here; it happens when the config is loaded, never per request.
    pub fn from_credentials(text: &str) -> Result<VertexAuth, String> {
        let trimmed = text.trim();
        let json: Cow<'_, str> = if trimmed.starts_with('{') {
            Cow::Borrowed(trimmed)
        } else {
            let contents = std::fs::read_to_string(trimmed)
                .map_err(|e| format!("vertex_credentials: cannot read the key file {trimmed:?}: {e}"))?;
            Cow::Owned(contents)
        };
        let key: ServiceAccountKey<'_> = serde_json::from_str(&json).map_err(|e| {
            format!("vertex_credentials: not a service-account key (needs client_email and private_key): {e}")
        })?;
        if let Some(kind) = key.kind.as_deref().filter(|k| *k != "service_account") {
            return Err(format!(
                "vertex_credentials: only service-account keys are supported, this one is of type {kind:?}"
            ));
        }
        let signing = EncodingKey::from_rsa_pem(key.private_key.as_bytes())
            .map_err(|e| format!("vertex_credentials: private_key is not an RSA key in PEM: {e}"))?;
        Ok(VertexAuth {
            client_email: key.client_email.into_owned(),
            token_uri: key.token_uri.map_or_else(|| DEFAULT_TOKEN_URI.to_owned(), Cow::into_owned),
            project_id: key.project_id.map(Cow::into_owned),
            key_id: key.private_key_id.map(Cow::into_owned),
            key: signing,
            cache: Mutex::new(None),
        })
    }

    /// The service account's e-mail (the assertion's issuer).
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// Where tokens are asked for.
    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    /// The key's project, LiteLLM's fallback when `vertex_project` is not set.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// The signed JWT assertion for a token request made at `now_unix` (seconds since the Unix epoch).
    pub fn assertion(&self, now_unix: u64) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key_id.clone();
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat: now_unix,
            exp: now_unix + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the Vertex AI assertion: {e}"))
    }

    /// The token request to make at `now_unix`: the URL to POST to, and the form body
    /// (`Content-Type: application/x-www-form-urlencoded`).
    pub fn token_request(&self, now_unix: u64) -> Result<(String, Vec<u8>), String> {
        let assertion = self.assertion(now_unix)?;
        let mut body = Vec::with_capacity(assertion.len() + 96);
        body.extend_from_slice(b"grant_type=");
        body.extend_from_slice(GRANT_TYPE.as_bytes());
        body.extend_from_slice(b"&assertion=");
        form_encode(&mut body, &assertion);
        Ok((self.token_uri.clone(), body))
    }

    /// The access token and its lifetime from the token endpoint's answer; its error (`{"error",
    /// "error_description"}`) as the message otherwise.
    pub fn parse_token_response(body: &[u8]) -> Result<(String, Duration), String> {
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: Option<String>,
            expires_in: Option<u64>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let answer: Answer = serde_json::from_slice(body).map_err(|e| {
            let text = String::from_utf8_lossy(body);
            format!("the token endpoint's answer is not JSON ({e}): {}", text.chars().take(200).collect::<String>())
        })?;
        match answer {
            Answer { access_token: Some(token), expires_in, .. } if !token.is_empty() => {
                // Google always says; an hour is what it gives when it does.
                Ok((token, Duration::from_secs(expires_in.unwrap_or(ASSERTION_LIFETIME_SECS))))
            }
            Answer { error: Some(error), error_description, .. } => match error_description {
                Some(description) => Err(format!("the token endpoint refused: {error}: {description}")),
                None => Err(format!("the token endpoint refused: {error}")),
            },
            _ => Err("the token endpoint's answer has no access_token".to_owned()),
        }
    }

    /// The cached token, if it is still good at `now` (up to [`REFRESH_MARGIN`] before it expires).
    pub fn cached_token(&self, now: Instant) -> Option<String> {
        let cache = self.lock();
        let cached = cache.as_ref()?;
        (now < cached.refresh_at).then(|| cached.token.clone())
    }

    /// Caches a token that the endpoint said lives `expires_in` from `now`.
    pub fn store_token(&self, token: String, expires_in: Duration, now: Instant) {
        let refresh_at = now + expires_in.saturating_sub(REFRESH_MARGIN);
        *self.lock() = Some(CachedToken { token, refresh_at });
    }

    /// The cache, also after a panic elsewhere poisoned it (a token is replaced whole, never half-written).
    fn lock(&self) -> MutexGuard<'_, Option<CachedToken>> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for VertexAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key, never the token.
        f.debug_struct("VertexAuth")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// `application/x-www-form-urlencoded` encoding of a value (unreserved bytes kept, the rest `%XX`).
fn form_encode(out: &mut Vec<u8>, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    /// A throwaway 2048-bit RSA key made for these tests only (`openssl genpkey -algorithm RSA`); it signs
    /// nothing anywhere else.
    const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCn23uY07JGjxJ0\nQJrt2TJ5L5n1TAPpIz07o6fgprfYSGjWCCs2WJwN/gB03K4S27O1PaYak5+GCOB0\nq5hg33hSh5TYc02L15YYL0kPOTgkI3+upG/V0oS5MWx9nGC9GN0nhWzRkk6p2Yc5\nTS7qbYVlXfdbcT74xq3u0vnGoOoMO1w4+SxvFSNzmUWlKTA1Sk6cBkNPqssEb+ew\ncaQApRyK5HCSu62/u2VCnziVXDEJaDTpbkNwjFHpr1IVRbTVe1EoRVE8d+ovUz9B\nVrEKhy2Y2KhFmvYPXPjRm6coNNYWzA6YXJDd4l2ppBKCEmbsEWWZ43eIxaCw2QUY\nmDRwP0QLAgMBAAECggEAChpXO5EOS1nkIfQbfxJSC+I2EYIEQD17O4Izof1W1mEx\nUiSGuUwnBF6T13TK016+17tAqpvU/6O8IrmLP9VjcBAyAL8b3T1aDtWVv6FRhDdQ\nwYmrI4L6swzK+1p0phz/fpf0vz5flrB9h5DiMIDsBPhdYXcU87M9l8DCANcBjz/Q\nZsI9mJ0Kym8+FKTjOBn5jaNWeoLkga5bsV5sqPLepAYnJMGRxsxNDUR5BZcfKIhw\nRPfnWN6PG6Z14wcwNLtrsEHa1+1Oc4vTKmzlzbPWSGyvk9IGDNJ2adTRBKDMCI4M\nlli+sb7Mk1y6ESzxCNuow29XxYc6PtAS43lNgDsd5QKBgQDZzHx3F9hrDtLxqL2Y\nuvpwwQni9oTy01gTUnT4BLEjVj08Hbn+iREXUDaAG15eL5Jt44XXO5D19k/YOXqs\ng+MNdNhU1vlrLtxwshDVWYoeVaqNUENmUxpvw6PU3xH2E3U0OJ/pEa66kDQxvjpM\nq1IJa3n/UAosLej5sjIFG2to7QKBgQDFTIwAePn58dVy6yBZNNsZwFGdl3XuOIAi\nAX8FyEICsCPFQYbTXyh7FKzITuNkm33qPNW+SdIuaM5S2qcHrMWR9ZbGenJ/Vfwp\n5A+vENZhP0nAtr0r7a5JkBQguLZRiJtpQlkQIDdALjfO/RX4tl34EPC1dq4JEOtT\ngFjRKJcZ1wKBgHWGZlNNRrbeVO2aBFT58FIPmGokZDEz4f7rK7r5rSxISNq7n7W9\n+L7/xajzG8TvHrC1aW9u8RYIR6WBvrSApnCIcIO3TPeNXd5h97toiaM8zr9aZEQ+\n67ELfMhNZr/GWCRJueBmbka1sbR11bexap8yo64lXpfgXir/AQbIePkxAoGABjqN\nbPJkyexFldQweEB/7kcxDG2croGgIfK0JOWWl+khp/eSnxew+nnDnqtG6IU0K3Hy\nOYixFv/+C4WVoltk/V+oe+mftb9sL5JgoGFCs11BIdFjFYDycKYYzJOoRdivN1p9\n31F1DRSodGNvDyQKwWsffksZ4XVkSIWTyD6kzo8CgYEAzpOCn7PGLT5rBeT+z85K\ntWolBcBRCHDaDEPxsa9rnmU2wlDiTKhhrGZBW/7CknXMt8PT3ld2V5d0VdCqqWGh\nIaEeAalWdDjZwuldQ710rTjY0Y3ZDhFH+mJafIFqjCs2OU+7o/AMAvL66daj7tjj\nr/SpByNCjBByBHJNHUI7src=\n-----END PRIVATE KEY-----";
    /// Its public half, to check signatures.
    const TEST_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAp9t7mNOyRo8SdECa7dky\neS+Z9UwD6SM9O6On4Ka32Eho1ggrNlicDf4AdNyuEtuztT2mGpOfhgjgdKuYYN94\nUoeU2HNNi9eWGC9JDzk4JCN/rqRv1dKEuTFsfZxgvRjdJ4Vs0ZJOqdmHOU0u6m2F\nZV33W3E++Mat7tL5xqDqDDtcOPksbxUjc5lFpSkwNUpOnAZDT6rLBG/nsHGkAKUc\niuRwkrutv7tlQp84lVwxCWg06W5DcIxR6a9SFUW01XtRKEVRPHfqL1M/QVaxCoct\nmNioRZr2D1z40ZunKDTWFswOmFyQ3eJdqaQSghJm7BFlmeN3iMWgsNkFGJg0cD9E\nCwIDAQAB\n-----END PUBLIC KEY-----";

    fn key_json(kind: &str) -> String {
        serde_json::json!({
            "type": kind,
            "project_id": "proj-1",
            "private_key_id": "kid-1",
            "private_key": TEST_KEY,
            "client_email": "svc@proj-1.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
        })
        .to_string()
    }

    fn auth() -> VertexAuth {
        VertexAuth::from_credentials(&key_json("service_account")).unwrap()
    }

    #[test]
    fn assertion_is_an_rs256_jwt_with_googles_claims() {
        let jwt = auth().assertion(1_700_000_000).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::RS256, Some("kid-1")));
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&["https://oauth2.googleapis.com/token"]);
        validation.set_issuer(&["svc@proj-1.iam.gserviceaccount.com"]);
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<serde_json::Value>(&jwt, &key, &validation).unwrap().claims;
        assert_eq!(
            claims,
            serde_json::json!({
                "iss": "svc@proj-1.iam.gserviceaccount.com",
                "scope": "https://www.googleapis.com/auth/cloud-platform",
                "aud": "https://oauth2.googleapis.com/token",
                "iat": 1_700_000_000u64,
                "exp": 1_700_003_600u64,
            })
        );
        // Same clock, same key: the same assertion (RS256 signatures are deterministic).
        assert_eq!(jwt, auth().assertion(1_700_000_000).unwrap());
    }

    #[test]
    fn token_request_is_the_jwt_bearer_form() {
        let a = auth();
        let (uri, body) = a.token_request(1_700_000_000).unwrap();
        assert_eq!(uri, "https://oauth2.googleapis.com/token");
        let body = String::from_utf8(body).unwrap();
        let assertion = a.assertion(1_700_000_000).unwrap();
        assert_eq!(
            body,
            format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}")
        );
    }

    #[test]
    fn token_answers_are_read_and_refusals_explained() {
        let ok = br#"{"access_token": "ya29.abc", "expires_in": 3599, "token_type": "Bearer"}"#;
        assert_eq!(VertexAuth::parse_token_response(ok).unwrap(), ("ya29.abc".to_owned(), Duration::from_secs(3599)));
        let refused = br#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#;
        let message = VertexAuth::parse_token_response(refused).unwrap_err();
        assert!(message.contains("invalid_grant") && message.contains("Invalid JWT Signature."), "{message}");
        assert!(VertexAuth::parse_token_response(b"<html>").is_err());
        assert!(VertexAuth::parse_token_response(b"{}").is_err());
    }

    #[test]
    fn tokens_are_cached_until_a_minute_before_they_expire() {
        let a = auth();
        let t0 = Instant::now();
        assert_eq!(a.cached_token(t0), None);
        a.store_token("tok".to_owned(), Duration::from_secs(3600), t0);
        assert_eq!(a.cached_token(t0 + Duration::from_secs(3539)).as_deref(), Some("tok"));
        assert_eq!(a.cached_token(t0 + Duration::from_secs(3540)), None);
        // A token living less than the margin is never served from the cache.
        a.store_token("short".to_owned(), Duration::from_secs(30), t0);
        assert_eq!(a.cached_token(t0), None);
    }

    #[test]
    fn credentials_are_read_inline_or_from_a_file_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        std::fs::write(&path, key_json("service_account")).unwrap();
        let a = VertexAuth::from_credentials(path.to_str().unwrap()).unwrap();
        assert_eq!((a.project_id(), a.client_email()), (Some("proj-1"), "svc@proj-1.iam.gserviceaccount.com"));
        let user = VertexAuth::from_credentials(&key_json("authorized_user")).unwrap_err();
        assert!(user.contains("only service-account keys"), "{user}");
        let missing = VertexAuth::from_credentials("/nonexistent/key.json").unwrap_err();
        assert!(missing.contains("cannot read"), "{missing}");
        let bad_key = serde_json::json!({"client_email": "a@b", "private_key": "not a key"}).to_string();
        assert!(VertexAuth::from_credentials(&bad_key).unwrap_err().contains("not an RSA key"));
        // Defaults: Google's token endpoint.
        let minimal = serde_json::json!({"client_email": "a@b", "private_key": TEST_KEY}).to_string();
        assert_eq!(VertexAuth::from_credentials(&minimal).unwrap().token_uri(), DEFAULT_TOKEN_URI);
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let a = auth();
        a.store_token("ya29.secret-token".to_owned(), Duration::from_secs(3600), Instant::now());
        let shown = format!("{a:?}");
        assert!(
            shown.contains("svc@proj-1") && !shown.contains("PRIVATE") && !shown.contains("secret-token"),
            "{shown}"
        );
    }
}
