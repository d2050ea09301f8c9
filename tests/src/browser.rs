//! Real headless Chromium driven through chromedriver (WebDriver) with fantoccini.

use std::{path::Path, process::Command, time::Duration};

use anyhow::{bail, Context};
use fantoccini::{Client, ClientBuilder, Locator};

use crate::{free_port, Process};

/// A Chromium session; the browser and driver stop when dropped.
pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
    _driver: Process,
}

fn find(candidates: &[&'static str]) -> Option<&'static str> {
    candidates.iter().copied().find(|p| Path::new(p).exists())
}

impl Browser {
    pub async fn start() -> anyhow::Result<Browser> {
        let driver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
            .context("chromedriver is not installed (apt-get install chromium chromium-driver; ./tideway test does)")?;
        let chromium = find(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"])
            .context("chromium is not installed")?;
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("failed to start chromedriver")?;
        let driver = Process {
            child,
            name: "chromedriver".into(),
        };
        let profile = tempfile::tempdir()?;
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--window-size=1280,900",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": chromium, "args": args}),
        );
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                let client =
                    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                        .capabilities(caps)
                        .connect(&url)
                        .await
                        .context("failed to open a Chromium session")?;
                return Ok(Browser {
                    client,
                    _profile: profile,
                    _driver: driver,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("chromedriver did not listen on {url}")
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        Ok(self.client.goto(url).await?)
    }

    /// Types into the input with `id`, replacing what it held.
    pub async fn fill(&self, id: &str, text: &str) -> anyhow::Result<()> {
        let el = self
            .client
            .find(Locator::Id(id))
            .await
            .with_context(|| format!("no #{id}"))?;
        el.clear().await?;
        el.send_keys(text).await?;
        Ok(())
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("no {css}"))?
            .click()
            .await?;
        Ok(())
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self
            .client
            .find(Locator::Css(css))
            .await
            .with_context(|| format!("no {css}"))?
            .text()
            .await?)
    }

    /// Waits up to `secs` for the element matching `css` to contain `want`.
    pub async fn wait_text(&self, css: &str, want: &str, secs: u64) -> anyhow::Result<String> {
        let mut last = String::new();
        for _ in 0..secs * 10 {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                last = el.text().await.unwrap_or_default();
                if last.contains(want) {
                    return Ok(last);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{css} never showed {want:?}; last text: {last:?}")
    }

    /// Logs in through the login form and waits until the portal shows the user.
    pub async fn login(&self, base: &str, username: &str, password: &str) -> anyhow::Result<()> {
        self.goto(&format!("{base}/login")).await?;
        self.fill("username", username).await?;
        self.fill("password", password).await?;
        self.click("#login-submit").await?;
        self.wait_text("#whoami", &format!("user:{username}"), 10)
            .await?;
        Ok(())
    }

    /// A new browser signed in as the platform admin, at `path` of `base`.
    pub async fn admin_at(base: &str, path: &str) -> anyhow::Result<Browser> {
        let browser = Browser::start().await?;
        browser.login(base, "admin", crate::ADMIN_PASSWORD).await?;
        browser.goto(&format!("{base}{path}")).await?;
        Ok(browser)
    }

    /// Saves a PNG screenshot (for people looking at failures).
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.client.screenshot().await?)?;
        Ok(())
    }
}
