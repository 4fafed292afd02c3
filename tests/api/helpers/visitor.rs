//! A browser without a browser: keeps cookies and posts forms as a person's browser would,
//! for the console's HTTP-level tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};

use crate::helpers::TestApp;

pub struct Visitor<'a> {
    pub app: &'a TestApp,
    cookies: Mutex<BTreeMap<String, String>>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Every `Set-Cookie` line, as sent.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The value of the first hidden (or other) input named `name`.
    pub fn input(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no input {name} in:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap_or(0) + start;
        self.body[start..end].to_owned()
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .lock()
            .expect("the lock is not poisoned")
            .get(name)
            .cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .expect("the lock is not poisoned")
            .insert(name.to_owned(), value.to_owned());
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .expect("the lock is not poisoned")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> Page {
        let cookies = self.cookie_header();
        let request = if cookies.is_empty() {
            request
        } else {
            request.header("cookie", cookies)
        };
        let response = request
            .header("accept", "text/html")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        let page = Page {
            status,
            headers,
            body,
        };
        let mut jar = self.cookies.lock().expect("the lock is not poisoned");
        for line in page.set_cookies() {
            let pair = line.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if value.is_empty() || line.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
        page
    }

    pub async fn get(&self, path: &str) -> Page {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Page {
        let mut request = self.app.client.get(self.app.url(path));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.send(request, path).await
    }

    /// Posts a form with the headers a same-origin form post from Chromium carries.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let origin = self.app.address.clone();
        self.post_with(
            path,
            fields,
            &[
                ("origin", origin.as_str()),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await
    }

    pub async fn post_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let body = serde_urlencoded::to_string(fields).expect("the form encodes");
        let mut request = self
            .app
            .client
            .post(self.app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.send(request, path).await
    }

    /// Opens the login page and signs in; returns the answer to the form.
    pub async fn sign_in(&self, identifier: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.input("csrf");
        self.post(
            "/login",
            &[
                ("csrf", csrf.as_str()),
                ("identifier", identifier),
                ("password", password),
                ("next", ""),
            ],
        )
        .await
    }

    /// The CSRF token of the signed-in person's forms, read from a page.
    pub async fn csrf(&self, path: &str) -> String {
        self.get(path).await.input("csrf")
    }
}
