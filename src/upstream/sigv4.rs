//! AWS Signature Version 4 for Bedrock calls, over the exact bytes sent, with the time passed in.
//!
//! The signing itself is smithy-rs's `aws-sigv4` (RustCrypto HMAC/SHA-256, no aws-lc-rs), with its default
//! settings, which are what the AWS SDKs and botocore use for Bedrock Runtime: the path double-encoded in the
//! canonical request (Bedrock's model ids carry `%3A`), the payload hash signed but not sent as a header,
//! the session token signed. What the caller passes must be what goes on the wire: the URL (path and query
//! as sent, see `tollgate_filters::bedrock::path`), every header that will be sent and is signed
//! (`host`, `content-type`, ...; `content-length` only if it will be sent as given: a request re-framed as
//! chunked after signing would fail), and the body bytes.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign as sign_request, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

/// The AWS credentials of a deployment (`aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`).
#[derive(Clone)]
pub struct AwsCredentials {
    /// `AKIA...` / `ASIA...`.
    pub access_key_id: String,
    /// The secret key; never logged (see the `Debug` impl).
    pub secret_access_key: String,
    /// The STS session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &self.session_token.as_ref().map(|_| "** redacted **"))
            .finish()
    }
}

/// The headers to add to a request so AWS accepts it: `authorization`, `x-amz-date`, and
/// `x-amz-security-token` for temporary credentials.
///
/// `url` is `https://host/path?query` as sent; `headers` are the headers that will be sent (names in any
/// case), `host` included; `service` is `bedrock` for Bedrock Runtime; `now` is the signing time.
#[expect(clippy::too_many_arguments, reason = "the signature the gateway was promised; each argument is one fact")]
pub fn sign(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    creds: &AwsCredentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        creds.session_token.clone(),
        None,
        "tollgate-config",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("SigV4 parameters: {e}"))?
        .into();
    let signable = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body))
        .map_err(|e| format!("SigV4 request: {e}"))?;
    let (instructions, _signature) = sign_request(signable, &params).map_err(|e| format!("SigV4: {e}"))?.into_parts();
    let (added, _query) = instructions.into_parts();
    Ok(added.into_iter().map(|h| (h.name().to_owned(), h.value().to_owned())).collect())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn creds(token: Option<&str>) -> AwsCredentials {
        // AWS's documented example keys (the SigV4 test suite's).
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: token.map(str::to_owned),
        }
    }

    /// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    /// 2024-05-01T08:30:15Z.
    fn bedrock_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_714_552_215)
    }

    fn header<'a>(added: &'a [(String, String)], name: &str) -> Option<&'a str> {
        added.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn auth(sig: &str, scope: &str, signed: &str) -> String {
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}/aws4_request, SignedHeaders={signed}, Signature={sig}")
    }

    /// AWS SigV4 test suite, `get-vanilla`.
    #[test]
    fn signs_aws_get_vanilla() -> Result<(), String> {
        let host = [("host", "example.amazonaws.com")];
        let added = sign(
            "GET",
            "https://example.amazonaws.com/",
            &host,
            b"",
            &creds(None),
            "us-east-1",
            "service",
            suite_time(),
        )?;
        assert_eq!(header(&added, "x-amz-date"), Some("20150830T123600Z"));
        let want = auth(
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            "20150830/us-east-1/service",
            "host;x-amz-date",
        );
        assert_eq!(header(&added, "authorization"), Some(want.as_str()));
        assert_eq!(header(&added, "x-amz-security-token"), None);
        Ok(())
    }

    /// AWS SigV4 test suite, `post-x-www-form-urlencoded`: the body is part of what is signed.
    #[test]
    fn signs_aws_post_with_a_body() -> Result<(), String> {
        let headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Host", "example.amazonaws.com")];
        let url = "https://example.amazonaws.com/";
        let added = sign("POST", url, &headers, b"Param1=value1", &creds(None), "us-east-1", "service", suite_time())?;
        let want = auth(
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
            "20150830/us-east-1/service",
            "content-type;host;x-amz-date",
        );
        assert_eq!(header(&added, "authorization"), Some(want.as_str()));
        // One byte of body changed changes the signature.
        let other = sign("POST", url, &headers, b"Param1=value2", &creds(None), "us-east-1", "service", suite_time())?;
        assert_ne!(header(&other, "authorization"), Some(want.as_str()));
        Ok(())
    }

    /// AWS SigV4 test suite, `get-vanilla-with-session-token`: the token is sent and signed.
    #[test]
    fn signs_aws_get_with_a_session_token() -> Result<(), String> {
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let host = [("host", "example.amazonaws.com")];
        let url = "https://example.amazonaws.com/";
        let added = sign("GET", url, &host, b"", &creds(Some(token)), "us-east-1", "service", suite_time())?;
        assert_eq!(header(&added, "x-amz-security-token"), Some(token));
        let want = auth(
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
            "20150830/us-east-1/service",
            "host;x-amz-date;x-amz-security-token",
        );
        assert_eq!(header(&added, "authorization"), Some(want.as_str()));
        Ok(())
    }

    /// A Converse call as the gateway sends it; the expected signature is botocore's (`SigV4Auth`, the signer
    /// LiteLLM uses) for the same request, keys and time.
    #[test]
    fn signs_a_bedrock_converse_call_like_botocore() -> Result<(), String> {
        let host = "bedrock-runtime.us-east-1.amazonaws.com";
        let url =
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
        let body = br#"{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":64}}"#;
        let headers = [("host", host), ("content-type", "application/json")];
        let added = sign("POST", url, &headers, body, &creds(None), "us-east-1", "bedrock", bedrock_time())?;
        assert_eq!(header(&added, "x-amz-date"), Some("20240501T083015Z"));
        let want = auth(
            "f2749c743f07c19f0fcaad1b060a1c34cb4ee2176dbbbf1819df015810ec0b6b",
            "20240501/us-east-1/bedrock",
            "content-type;host;x-amz-date",
        );
        assert_eq!(header(&added, "authorization"), Some(want.as_str()));
        Ok(())
    }

    /// An embeddings call with temporary credentials, against botocore's signature.
    #[test]
    fn signs_a_bedrock_invoke_with_temporary_credentials_like_botocore() -> Result<(), String> {
        let host = "bedrock-runtime.eu-west-1.amazonaws.com";
        let url = "https://bedrock-runtime.eu-west-1.amazonaws.com/model/amazon.titan-embed-text-v2%3A0/invoke";
        let headers = [("host", host), ("content-type", "application/json")];
        let creds = creds(Some("FQoGZXIvYXdzEXAMPLETOKEN"));
        let added =
            sign("POST", url, &headers, br#"{"inputText":"hi"}"#, &creds, "eu-west-1", "bedrock", bedrock_time())?;
        let want = auth(
            "6a49e9fc00ec99f98c3c1b335d6f53bf5582b7bf6803b086699b952383ea4c0d",
            "20240501/eu-west-1/bedrock",
            "content-type;host;x-amz-date;x-amz-security-token",
        );
        assert_eq!(header(&added, "authorization"), Some(want.as_str()));
        assert_eq!(header(&added, "x-amz-security-token"), Some("FQoGZXIvYXdzEXAMPLETOKEN"));
        Ok(())
    }

    #[test]
    fn refuses_a_url_it_cannot_parse() {
        let got = sign("POST", "not a url", &[], b"", &creds(None), "us-east-1", "bedrock", bedrock_time());
        assert!(got.is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let shown = format!("{:?}", creds(Some("tok")));
        assert!(!shown.contains("wJalr") && !shown.contains("tok\""), "{shown}");
    }
}
