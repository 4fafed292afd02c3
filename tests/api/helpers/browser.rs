//! Headless Chromium for the console's browser tests, driven through chromedriver
//! (WebDriver). One chromedriver per test process, started on first use on a free port and
//! ended when the process ends; each test gets a fresh browser session (its own profile,
//! so no cookies carry over), at most two at a time.

use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::sync::Semaphore;

/// How long to wait for an element or a page; a wait, never an assertion about speed.
const PATIENCE: Duration = Duration::from_secs(30);

static DRIVER: OnceLock<u16> = OnceLock::new();
static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(2));

/// Starts chromedriver once; a shell watches this process and ends chromedriver with it.
#[expect(
    clippy::zombie_processes,
    reason = "the watching shell lives as long as the test process, which never waits for it"
)]
fn driver_port() -> u16 {
    *DRIVER.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free port");
        Command::new("sh")
            .arg("-c")
            .arg(
                "chromedriver --port=\"$1\" --log-level=SEVERE & c=$!; \
                 while kill -0 \"$2\" 2>/dev/null; do sleep 1; done; kill \"$c\"",
            )
            .arg("sh")
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start chromedriver (apt-get install chromium-driver): {e}")
            });
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < PATIENCE, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        port
    })
}

pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("SCREENSHOT_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots"),
        PathBuf::from,
    )
}

pub struct Browser {
    pub client: Client,
    base: String,
}

/// Runs `test` in a fresh browser session against the app at `base`; the session is
/// closed whether or not the test passes.
pub async fn with_browser<F, Fut>(base: &str, test: F)
where
    F: FnOnce(Browser) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let _slot = SLOTS.acquire().await.expect("a browser slot");
    let port = driver_port();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,900", "--lang=en-US"],
        }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("no browser session");
    let browser = Browser {
        client: client.clone(),
        base: base.to_owned(),
    };
    let outcome = AssertUnwindSafe(test(browser)).catch_unwind().await;
    let _ = client.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn xpath_literal(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

impl Browser {
    /// Scrolls `element` to the middle of the viewport and clicks it.
    pub async fn click(&self, element: Element, what: &str) {
        let arg = serde_json::to_value(&element).expect("an element serialises");
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});",
                vec![arg],
            )
            .await
            .expect("the statement runs");
        if let Err(err) = element.click().await {
            let _ = std::fs::create_dir_all(screenshot_dir());
            if let Ok(png) = self.client.screenshot().await {
                let _ = std::fs::write(screenshot_dir().join("failed-click.png"), png);
            }
            panic!("clicking {what}: {err:?}");
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("goto {path}: {e}"));
    }

    pub async fn path(&self) -> String {
        let url = self
            .client
            .current_url()
            .await
            .expect("the browser has a URL");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn wait_for(&self, xpath: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(xpath))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let page = self.client.source().await.unwrap_or_default();
                let title = page
                    .split_once("<title>")
                    .and_then(|(_, rest)| rest.split_once("</title>"))
                    .map_or("", |(title, _)| title);
                panic!("{xpath} did not appear (page {url:?}, titled {title:?}): {e}")
            }
        }
    }

    /// Waits for the page's one heading to read `text`.
    pub async fn heading(&self, text: &str) {
        self.wait_for(&format!(
            "//h1[contains(normalize-space(.), {})]",
            xpath_literal(text)
        ))
        .await;
    }

    /// The input labelled `label` (the label's text is `label`, or `label (…)`).
    pub async fn field(&self, label: &str) -> Element {
        let lit = xpath_literal(label);
        let with_note = xpath_literal(&format!("{label} ("));
        let label = self
            .wait_for(&format!(
                "//label[normalize-space(.)={lit} or starts-with(normalize-space(.), {with_note})]"
            ))
            .await;
        let id = label
            .attr("for")
            .await
            .expect("the browser reads the attribute")
            .expect("a label without for");
        self.client
            .find(Locator::Id(&id))
            .await
            .unwrap_or_else(|e| panic!("no input #{id}: {e}"))
    }

    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("the browser clears the field");
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("typing into {label}: {e}"));
    }

    pub async fn select(&self, label: &str, value: &str) {
        self.field(label)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choosing {value} in {label}: {e}"));
    }

    /// Clicks the first button whose visible name starts with `text`.
    pub async fn press(&self, text: &str) {
        self.press_in("", text).await;
    }

    /// [`Self::press`] inside the element `scope` selects (an XPath prefix).
    pub async fn press_in(&self, scope: &str, text: &str) {
        let xpath = format!(
            "{scope}//button[starts-with(normalize-space(.), {})]",
            xpath_literal(text)
        );
        let button = self.wait_for(&xpath).await;
        self.click(button, text).await;
    }

    /// Opens a `<details>` confirmation by its summary.
    pub async fn open_details(&self, summary: &str) {
        let element = self
            .wait_for(&format!(
                "//summary[starts-with(normalize-space(.), {})]",
                xpath_literal(summary)
            ))
            .await;
        self.click(element, summary).await;
    }

    pub async fn click_link(&self, text: &str) {
        let link = self
            .wait_for(&format!(
                "//a[starts-with(normalize-space(.), {})]",
                xpath_literal(text)
            ))
            .await;
        self.click(link, text).await;
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .expect("the element is on the page")
            .text()
            .await
            .expect("the text is readable")
    }

    /// Waits for `text` to be on the page (in an element with `role`, when given).
    pub async fn sees(&self, role: Option<&str>, text: &str) {
        let scope = role.map_or_else(|| "//body".to_owned(), |r| format!("//*[@role='{r}']"));
        self.wait_for(&format!(
            "{scope}[contains(normalize-space(.), {})]",
            xpath_literal(text)
        ))
        .await;
    }

    async fn inner_width(&self) -> i64 {
        self.client
            .execute("return window.innerWidth;", vec![])
            .await
            .expect("the statement runs")
            .as_i64()
            .unwrap_or(0)
    }

    /// Makes the viewport `width` CSS pixels wide.
    pub async fn viewport(&self, width: i64) {
        let mut outer = width;
        for _ in 0..3 {
            self.client
                .set_window_size(u32::try_from(outer).unwrap_or(1280), 900)
                .await
                .expect("the browser resizes");
            let inner = self.inner_width().await;
            if inner == width {
                return;
            }
            outer += width - inner;
        }
        panic!("the viewport would not become {width} px wide");
    }

    /// Whether the page scrolls sideways at this width.
    pub async fn scrolls_sideways(&self) -> bool {
        self.client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth;",
                vec![],
            )
            .await
            .expect("the statement runs")
            .as_bool()
            .unwrap_or(true)
    }

    /// Screenshots of the page at 1280 and at 375 px wide, into [`screenshot_dir`];
    /// asserts that at 375 px nothing scrolls sideways.
    pub async fn screenshots(&self, name: &str) {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the directory is created");
        for width in [1280, 375] {
            self.viewport(width).await;
            let png = self
                .client
                .screenshot()
                .await
                .expect("the browser takes a screenshot");
            std::fs::write(dir.join(format!("{name}-{width}.png")), png)
                .expect("the write succeeds");
            if width == 375 {
                assert!(
                    !self.scrolls_sideways().await,
                    "{name} scrolls sideways at 375 px"
                );
            }
        }
        self.viewport(1280).await;
    }
}

/// The W3C WebAuthn WebDriver extension's "Add Virtual Authenticator": a platform
/// authenticator with resident keys and user verification that always consents.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "isUserConsenting": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

impl Browser {
    /// Gives the browser a passkey-capable authenticator (as a laptop's fingerprint reader).
    pub async fn add_virtual_authenticator(&self) {
        self.client
            .issue_cmd(AddVirtualAuthenticator)
            .await
            .unwrap_or_else(|e| panic!("no virtual authenticator: {e}"));
    }
}
