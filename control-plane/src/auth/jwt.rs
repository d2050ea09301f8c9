//! Signed JWTs (HS256) for sessions and API tokens. A JWT names a row (session or token) by
//! its `jti`; the row decides revocation, the signature and `exp` decide the rest.

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a JWT stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Session,
    Api,
    /// A broker agent's token for `/agent/v1`.
    Agent,
}

/// The claims Tideway signs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The session or token row id.
    pub jti: Uuid,
    pub kind: TokenKind,
    pub iat: i64,
    pub exp: i64,
    /// Per-session CSRF token, echoed in every form of the web UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
}

/// The keys that sign and check tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn sign(
        &self,
        jti: Uuid,
        kind: TokenKind,
        expires_at: DateTime<Utc>,
        csrf: Option<String>,
    ) -> String {
        let claims = Claims {
            jti,
            kind,
            iat: Utc::now().timestamp(),
            exp: expires_at.timestamp(),
            csrf,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The claims of a token with a valid signature that has not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        decode::<Claims>(token, &self.decoding, &validation).map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_only_with_its_key_and_before_expiry() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let id = Uuid::new_v4();
        let t = keys.sign(
            id,
            TokenKind::Api,
            Utc::now() + chrono::Duration::hours(1),
            None,
        );
        assert_eq!(keys.verify(&t).expect("valid").jti, id);

        let other = JwtKeys::new(b"another-secret-another-secret-xx");
        assert!(other.verify(&t).is_err());

        let expired = keys.sign(
            id,
            TokenKind::Api,
            Utc::now() - chrono::Duration::seconds(5),
            None,
        );
        assert!(keys.verify(&expired).is_err());

        let mut tampered = t.clone();
        tampered.pop();
        assert!(keys.verify(&tampered).is_err());
    }
}
