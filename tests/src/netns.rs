//! A network namespace standing for another host: a veth pair between it and this
//! machine, `10.213.N.1` on this side and `10.213.N.2` inside, deleted when dropped.
//! This machine routes between namespaces, so the hosts reach one another.
//! Commands run inside with `nsenter --net` so they share this machine's mounts (a mount
//! made with `ip netns exec` would be invisible outside).

use std::process::Command;

use anyhow::{bail, Context};

use crate::run;

pub struct Netns {
    pub name: String,
    /// This machine's address on the link.
    pub host_ip: String,
    /// The namespace's address.
    pub ip: String,
    veth: String,
}

impl Netns {
    /// Claims the first free index (creating a namespace is atomic, so parallel tests
    /// never share one) and wires it up.
    pub fn create() -> anyhow::Result<Netns> {
        for n in 1..=250u16 {
            let name = format!("tideway-e2e-{n}");
            let claimed = Command::new("ip")
                .args(["netns", "add", &name])
                .output()
                .context("cannot run ip (iproute2)")?
                .status
                .success();
            if !claimed {
                continue;
            }
            let ns = Netns {
                host_ip: format!("10.213.{n}.1"),
                ip: format!("10.213.{n}.2"),
                veth: format!("twe2e{n}"),
                name,
            };
            ns.wire(n).with_context(|| format!("wiring {}", ns.name))?;
            return Ok(ns);
        }
        bail!("no free network namespace index (stale tideway-e2e-* namespaces?)")
    }

    fn wire(&self, n: u16) -> anyhow::Result<()> {
        let peer = format!("{}p", self.veth);
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
        run(Command::new("ip").args([
            "link", "add", &self.veth, "type", "veth", "peer", "name", &peer,
        ]))?;
        run(Command::new("ip").args(["link", "set", &peer, "netns", &self.name]))?;
        run(Command::new("ip").args([
            "addr",
            "add",
            &format!("{}/24", self.host_ip),
            "dev",
            &self.veth,
        ]))?;
        run(Command::new("ip").args(["link", "set", &self.veth, "up"]))?;
        let inside = |args: &[&str]| run(Command::new("ip").args(["-n", &self.name]).args(args));
        inside(&["addr", "add", &format!("10.213.{n}.2/24"), "dev", &peer])?;
        inside(&["link", "set", &peer, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        // Hosts reach each other through this machine, as through a switch.
        inside(&["route", "add", "default", "via", &self.host_ip])?;
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
            .context("enabling IP forwarding between namespaces")?;
        Ok(())
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/var/run/netns/{}", self.name))
            .arg(program);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
