//! Where tenants' webhooks may point. A tenant must not make the control plane reach its
//! own host or the operator's internal networks (loopback, private, link-local, shared,
//! unique-local, unspecified, multicast and documentation ranges), unless the operator
//! names the network in `--webhook-allowed-networks`. The URL is checked when it is set,
//! and every address a delivery connects to is checked again by the resolver, so a name
//! cannot be re-pointed at an internal address later. Deliveries never follow redirects.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which webhook targets are allowed.
#[derive(Clone, Debug, Default)]
pub struct WebhookPolicy {
    /// Internal networks the operator allows anyway.
    pub allowed: Vec<IpNet>,
}

/// Whether `ip` is internal: an address a tenant's webhook may not reach by default.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, shared (CGNAT)
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15, benchmarking
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        }
    }
}

impl WebhookPolicy {
    /// Parses `--webhook-allowed-networks` (comma-separated CIDRs).
    pub fn parse(allowed: &[String]) -> Result<WebhookPolicy, String> {
        let allowed = allowed
            .iter()
            .map(|n| {
                n.trim()
                    .parse::<IpNet>()
                    .map_err(|_| format!("--webhook-allowed-networks: {n:?} is not a CIDR network"))
            })
            .collect::<Result<_, _>>()?;
        Ok(WebhookPolicy { allowed })
    }

    /// Whether a tenant's webhook may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        !internal(ip) || self.allowed.iter().any(|n| n.contains(&ip))
    }

    /// Why a tenant's webhook may not go to `addresses` (what `host` resolved to), if so:
    /// every address must be permitted, or a name could alternate between them.
    pub fn refusal(&self, host: &str, addresses: &[IpAddr]) -> Option<String> {
        if addresses.is_empty() {
            return Some(format!("{host} does not resolve to any address"));
        }
        addresses.iter().find(|ip| !self.permits(**ip)).map(|ip| {
            format!(
                "{host} is {ip}, an internal address; webhooks must reach the outside world \
                 (an operator can allow the network with --webhook-allowed-networks)"
            )
        })
    }

    /// Checks a URL's host now (a name is resolved); the sentence says why not.
    pub async fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        let host = url.host_str().ok_or("the URL has no host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<IpAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map(|found| found.map(|a| a.ip()).collect())
                .unwrap_or_default(),
        };
        match self.refusal(host, &addresses) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// An HTTP client for tenants' webhooks: no redirects, and a resolver that refuses
    /// names with internal addresses.
    pub fn tenant_client(self: &Arc<Self>) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver(self.clone())))
            .build()
    }
}

/// Resolves with the system resolver, then refuses internal addresses.
struct GuardedResolver(Arc<WebhookPolicy>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ips: Vec<IpAddr> = found.iter().map(SocketAddr::ip).collect();
            if let Some(why) = policy.refusal(&host, &ips) {
                return Err(why.into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        let policy = WebhookPolicy::parse(&["10.20.0.0/16".into()]).expect("policy");
        for (ip, permitted) in [
            ("93.184.216.34", true),
            ("2606:4700::1111", true),
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("10.20.5.6", true),
            ("172.16.0.1", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("::1", false),
            ("::ffff:127.0.0.1", false),
            ("fd00::1", false),
            ("fe80::1", false),
            ("224.0.0.1", false),
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(policy.permits(ip), permitted, "{ip}");
        }
        assert!(WebhookPolicy::parse(&["nonsense".into()]).is_err());
    }

    #[test]
    fn every_address_of_a_name_must_be_permitted() {
        let policy = WebhookPolicy::default();
        let public: IpAddr = "93.184.216.34".parse().expect("ip");
        let private: IpAddr = "10.0.0.1".parse().expect("ip");
        assert_eq!(policy.refusal("hooks.example", &[public]), None);
        assert_eq!(
            policy
                .refusal("hooks.example", &[public, private])
                .as_deref(),
            Some(
                "hooks.example is 10.0.0.1, an internal address; webhooks must reach the \
                 outside world (an operator can allow the network with --webhook-allowed-networks)"
            )
        );
        assert!(policy.refusal("nowhere.example", &[]).is_some());
    }
}
