//! A real Prometheus server (the Debian `prometheus` package) for end-to-end tests: it
//! scrapes what the test names, loads rule files, evaluates every second, and answers
//! queries over its HTTP API.

use std::{
    collections::BTreeSet,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};

use crate::{free_port, Process};

const BINARY: &str = "/usr/bin/prometheus";

pub struct Prometheus {
    pub url: String,
    _dir: tempfile::TempDir,
    _process: Process,
}

impl Prometheus {
    /// Starts with `scrape_configs` (YAML, indented as a list under the key) and rule
    /// files; waits until it is ready.
    pub async fn start(scrape_configs: &str, rule_files: &[&Path]) -> anyhow::Result<Prometheus> {
        if !Path::new(BINARY).exists() {
            bail!("prometheus is not installed (apt-get install prometheus; ./tideway test does)");
        }
        let dir = tempfile::tempdir()?;
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - {:?}\n", p.display().to_string()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}scrape_configs:\n{scrape_configs}",
            rules.concat()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config)?;
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log"))?;
        let child = Command::new(BINARY)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("failed to start prometheus")?;
        let p = Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            _process: Process {
                child,
                name: "prometheus".into(),
            },
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/-/ready", p.url)).await {
                if r.status().is_success() {
                    return Ok(p);
                }
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(p._dir.path().join("prometheus.log"))
                    .unwrap_or_default();
                bail!("prometheus never became ready:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The result vector of an instant query.
    pub async fn query(&self, promql: &str) -> anyhow::Result<Vec<serde_json::Value>> {
        let answer: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .await?
            .json()
            .await?;
        if answer["status"] != "success" {
            bail!("the query {promql} failed: {answer}");
        }
        Ok(answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Waits until `promql` returns at least one series.
    pub async fn until_some(
        &self,
        promql: &str,
        secs: u64,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let found = self.query(promql).await?;
            if !found.is_empty() {
                return Ok(found);
            }
            if Instant::now() > deadline {
                bail!("{promql} returned nothing for {secs} s");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Prometheus' view of its targets and its log (for failure messages).
    pub async fn targets(&self) -> String {
        let targets = match reqwest::get(format!("{}/api/v1/targets", self.url)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => e.to_string(),
        };
        let log =
            std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default();
        format!("{targets}\n{log}")
    }

    /// Every metric name Prometheus holds.
    pub async fn metric_names(&self) -> anyhow::Result<BTreeSet<String>> {
        let answer: serde_json::Value =
            reqwest::get(format!("{}/api/v1/label/__name__/values", self.url))
                .await?
                .json()
                .await?;
        Ok(answer["data"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }
}
