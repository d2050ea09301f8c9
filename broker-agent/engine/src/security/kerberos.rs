//! SASL/GSSAPI (Kerberos V5, RFC 4752) through the MIT GSSAPI library (`libgssapi`): the
//! context is accepted with the broker's keytab (KRB5_KTNAME), then the "no security
//! layer" negotiation runs wrapped in the context, and the client's Kerberos principal
//! is mapped to a short name with Kafka's `sasl.kerberos.principal.to.local.rules`.

use libgssapi::context::{SecurityContext, ServerCtx};
use regex::Regex;
use serde::Deserialize;

use super::sasl::Step;

/// `[kerberos]` in the broker's TOML file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KerberosConfig {
    /// The keytab with the broker's service key (`kafka/HOST@REALM`).
    pub keytab: std::path::PathBuf,
    /// The realm DEFAULT maps to short names; other realms need a RULE.
    #[serde(default)]
    pub realm: Option<String>,
    /// Kafka's `sasl.kerberos.principal.to.local.rules`, in order (default: DEFAULT).
    #[serde(default = "default_rules")]
    pub principal_to_local_rules: Vec<String>,
}

fn default_rules() -> Vec<String> {
    vec!["DEFAULT".into()]
}

/// A parsed principal: name components and realm (`kafka/host@REALM`).
struct KerberosName {
    components: Vec<String>,
    realm: String,
}

impl KerberosName {
    fn parse(text: &str) -> Option<KerberosName> {
        let (names, realm) = text.rsplit_once('@').unwrap_or((text, ""));
        let components: Vec<String> = names.split('/').map(str::to_owned).collect();
        (!components[0].is_empty()).then(|| KerberosName {
            components,
            realm: realm.to_owned(),
        })
    }
}

/// One rule: DEFAULT, or `RULE:[n:format](match)s/from/to/[g][/L|/U]`.
enum Rule {
    Default,
    Map {
        components: usize,
        format: String,
        matches: Regex,
        from: Option<Regex>,
        to: String,
        global: bool,
        case: Option<char>,
    },
}

fn parse_rule(text: &str) -> Result<Rule, String> {
    if text == "DEFAULT" {
        return Ok(Rule::Default);
    }
    let bad = || {
        format!(
            "principal-to-local rule {text:?} must be DEFAULT or RULE:[n:format](regex)s/from/to/"
        )
    };
    let body = text.strip_prefix("RULE:[").ok_or_else(bad)?;
    let (head, rest) = body.split_once(']').ok_or_else(bad)?;
    let (n, format) = head.split_once(':').ok_or_else(bad)?;
    let components = n.parse::<usize>().map_err(|_| bad())?;
    let (matches, rest) = match rest.strip_prefix('(') {
        Some(r) => {
            let (m, after) = r.split_once(')').ok_or_else(bad)?;
            (m, after)
        }
        None => (".*", rest),
    };
    let (case, rest) = match rest.strip_suffix("/L").or_else(|| rest.strip_suffix("/U")) {
        Some(stripped) => (rest.chars().last(), stripped),
        None => (None, rest),
    };
    let (from, to, global) = match rest.strip_prefix("s/") {
        Some(sub) => {
            let parts: Vec<&str> = sub.split('/').collect();
            if parts.len() != 3 || !(parts[2].is_empty() || parts[2] == "g") {
                return Err(bad());
            }
            (Some(parts[0]), parts[1], parts[2] == "g")
        }
        None if rest.is_empty() => (None, "", false),
        None => return Err(bad()),
    };
    let regex = |r: &str| Regex::new(&format!("^(?:{r})$")).map_err(|e| format!("{text:?}: {e}"));
    Ok(Rule::Map {
        components,
        format: format.to_owned(),
        matches: regex(matches)?,
        from: from
            .map(|f| Regex::new(f).map_err(|e| format!("{text:?}: {e}")))
            .transpose()?,
        to: to.to_owned(),
        global,
        case,
    })
}

impl Rule {
    fn apply(&self, name: &KerberosName, realm: Option<&str>) -> Option<String> {
        match self {
            Rule::Default => {
                let local = realm.is_none_or(|r| r == name.realm);
                local.then(|| name.components[0].clone())
            }
            Rule::Map {
                components,
                format,
                matches,
                from,
                to,
                global,
                case,
            } => {
                if name.components.len() != *components {
                    return None;
                }
                let mut base = format.replace("$0", &name.realm);
                for (i, c) in name.components.iter().enumerate() {
                    base = base.replace(&format!("${}", i + 1), c);
                }
                if !matches.is_match(&base) {
                    return None;
                }
                let mapped = match from {
                    Some(f) if *global => f.replace_all(&base, to.as_str()).into_owned(),
                    Some(f) => f.replace(&base, to.as_str()).into_owned(),
                    None => base,
                };
                Some(match case {
                    Some('L') => mapped.to_lowercase(),
                    Some('U') => mapped.to_uppercase(),
                    _ => mapped,
                })
            }
        }
    }
}

impl KerberosConfig {
    /// Checks the rules; the message names the bad one.
    pub fn validate(&self) -> Result<(), String> {
        self.principal_to_local_rules
            .iter()
            .try_for_each(|r| parse_rule(r).map(drop))
    }

    /// The short name of a Kerberos principal: the first rule that applies.
    pub fn short_name(&self, principal: &str) -> Option<String> {
        let name = KerberosName::parse(principal)?;
        self.principal_to_local_rules
            .iter()
            .filter_map(|r| parse_rule(r).ok())
            .find_map(|rule| rule.apply(&name, self.realm.as_deref()))
            .filter(|n| !n.is_empty())
    }
}

/// "No security layer" (bit 1) and a 64 KiB maximum message size (RFC 4752 section 3.1).
const SECURITY_LAYER_OFFER: [u8; 4] = [0x01, 0x01, 0x00, 0x00];
const NO_SECURITY_LAYER: u8 = 0x01;

enum Stage {
    Context,
    AwaitingEmpty,
    AwaitingLayerChoice,
}

/// One GSSAPI authentication in progress.
pub struct GssExchange {
    ctx: ServerCtx,
    stage: Stage,
    config: KerberosConfig,
}

impl GssExchange {
    /// A context accepting with the default acceptor credentials (the keytab).
    pub fn new(config: &KerberosConfig) -> GssExchange {
        GssExchange {
            ctx: ServerCtx::new(None),
            stage: Stage::Context,
            config: config.clone(),
        }
    }

    pub fn step(&mut self, token: &[u8]) -> Step {
        match self.advance(token) {
            Ok(step) => step,
            Err(reason) => Step::Failed(format!("GSSAPI authentication failed: {reason}")),
        }
    }

    fn advance(&mut self, token: &[u8]) -> Result<Step, String> {
        match self.stage {
            Stage::Context => {
                let out = self.ctx.step(token).map_err(|e| e.to_string())?;
                if self.ctx.is_complete() {
                    self.stage = Stage::AwaitingEmpty;
                }
                Ok(Step::Continue(out.map(|b| b.to_vec()).unwrap_or_default()))
            }
            Stage::AwaitingEmpty => {
                let offer = self
                    .ctx
                    .wrap(false, &SECURITY_LAYER_OFFER)
                    .map_err(|e| e.to_string())?;
                self.stage = Stage::AwaitingLayerChoice;
                Ok(Step::Continue(offer.to_vec()))
            }
            Stage::AwaitingLayerChoice => {
                let choice = self.ctx.unwrap(token).map_err(|e| e.to_string())?;
                if choice.len() < 4 || choice[0] & NO_SECURITY_LAYER == 0 {
                    return Err("the client wants a security layer; only none is offered".into());
                }
                let client = self
                    .ctx
                    .source_name()
                    .map_err(|e| e.to_string())?
                    .to_string();
                let short = self
                    .config
                    .short_name(&client)
                    .ok_or_else(|| format!("no principal-to-local rule applies to {client}"))?;
                let authzid = String::from_utf8_lossy(&choice[4..]);
                if !authzid.is_empty() && authzid != client && authzid != short {
                    return Err(format!("{client} may not act as {authzid}"));
                }
                Ok(Step::Done {
                    principal: format!("User:{short}"),
                    reply: Vec::new(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rules: &[&str], realm: Option<&str>) -> KerberosConfig {
        KerberosConfig {
            keytab: "/dev/null".into(),
            realm: realm.map(str::to_owned),
            principal_to_local_rules: rules.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn default_maps_principals_of_the_realm_to_their_first_component() {
        let c = config(&["DEFAULT"], Some("TEST.REALM"));
        assert_eq!(c.short_name("alice@TEST.REALM").as_deref(), Some("alice"));
        assert_eq!(
            c.short_name("kafka/broker1.test@TEST.REALM").as_deref(),
            Some("kafka")
        );
        assert_eq!(c.short_name("alice@OTHER.REALM"), None);
    }

    #[test]
    fn rules_apply_in_order_like_kafkas() {
        let c = config(
            &[
                "RULE:[2:$1@$0](kafka@TEST.REALM)s/.*/broker/",
                "RULE:[1:$1@$0](.*@PARTNER.ORG)s/@.*///L",
                "DEFAULT",
            ],
            Some("TEST.REALM"),
        );
        assert_eq!(
            c.short_name("kafka/h1@TEST.REALM").as_deref(),
            Some("broker")
        );
        assert_eq!(c.short_name("Bob@PARTNER.ORG").as_deref(), Some("bob"));
        assert_eq!(c.short_name("carol@TEST.REALM").as_deref(), Some("carol"));
        assert_eq!(c.short_name("eve@ELSEWHERE"), None);
    }

    #[test]
    fn malformed_rules_are_refused() {
        assert!(config(&["RULE:[x:$1]"], None).validate().is_err());
        assert!(config(&["SOMETHING"], None).validate().is_err());
        assert!(config(&["RULE:[1:$1](a(b)s/x/y/"], None)
            .validate()
            .is_err());
        assert!(config(&["RULE:[1:$1@$0](.*@R)s/@.*//", "DEFAULT"], None)
            .validate()
            .is_ok());
    }
}
