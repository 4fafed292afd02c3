//! `/dashboard`: the signed-in person's tasks.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;

use super::auth::safe_next;
use std::collections::HashMap;

use super::{
    Chrome, Failure, Form, FormErrors, Outcome, SignedIn, form_status, html, notice, page_number,
    parse_query, path_id, query, see_other, session_token, sign_in_first, signed_in_form, when,
};
use crate::domain::{Page, PageRequest, Patch, Task, TaskDescription, TaskId, TaskTitle};
use crate::error::{Error, FieldError};
use crate::service::policy::Reach;
use crate::service::{Context, mfa, tasks};

const PER_PAGE: i64 = 20;

pub struct TaskView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub done: bool,
    pub created: String,
}

#[derive(Template)]
#[template(path = "console/dashboard.html", whitespace = "minimize")]
struct DashboardPage {
    chrome: Chrome,
    show: &'static str,
    tasks: Vec<TaskView>,
    total: i64,
    page: i64,
    pages: i64,
    back: String,
    /// The task being edited, with what was typed and what was wrong with it.
    editing: Option<String>,
    edit_form: Form,
    edit_errors: FormErrors,
    add_form: Form,
    add_errors: FormErrors,
    /// The task whose deletion is being confirmed (`?delete=`).
    deleting: Option<String>,
}

impl DashboardPage {
    fn link(&self, show: &str, page: i64) -> String {
        format!("/dashboard?show={show}&page={page}")
    }
}

struct View {
    show: &'static str,
    page: i64,
}

impl View {
    fn done(&self) -> Option<bool> {
        match self.show {
            "open" => Some(false),
            "done" => Some(true),
            _ => None,
        }
    }

    fn request(&self) -> PageRequest {
        PageRequest {
            limit: PER_PAGE,
            offset: (self.page - 1) * PER_PAGE,
        }
    }
}

/// Which tasks and which page, from a page's query.
fn view(q: &HashMap<String, String>) -> View {
    let show = match q.get("show").map(String::as_str) {
        Some("open") => "open",
        Some("done") => "done",
        _ => "all",
    };
    View {
        show,
        page: page_number(q),
    }
}

/// The page's two forms as they come back: the task being edited (if any) and the new
/// task, each with what was typed and what was wrong with it.
struct Forms {
    editing: Option<String>,
    deleting: Option<String>,
    edit_form: Form,
    edit_errors: FormErrors,
    add_form: Form,
    add_errors: FormErrors,
}

impl Forms {
    fn fresh(editing: Option<String>) -> Self {
        Self {
            editing,
            deleting: None,
            edit_form: Form::empty(),
            edit_errors: FormErrors::none(),
            add_form: Form::empty(),
            add_errors: FormErrors::none(),
        }
    }
}

/// The page with the tasks fetched for it (after a form that came back with errors).
async fn render(
    ctx: &Context,
    who: &SignedIn,
    view: View,
    note: Option<&'static str>,
    forms: Forms,
) -> Outcome {
    let found = tasks::list(ctx, &who.principal, view.done(), view.request()).await?;
    show(who, &view, found, note, forms)
}

fn show(
    who: &SignedIn,
    view: &View,
    found: Page<Task>,
    note: Option<&'static str>,
    forms: Forms,
) -> Outcome {
    let Forms {
        editing,
        deleting,
        edit_form,
        edit_errors,
        add_form,
        add_errors,
    } = forms;
    let pages = ((found.total + PER_PAGE - 1) / PER_PAGE).max(1);
    let status = if edit_errors.any() || add_errors.any() {
        form_status(&edit_errors).max(form_status(&add_errors))
    } else {
        StatusCode::OK
    };
    let page = DashboardPage {
        chrome: Chrome::signed_in("Your tasks", who, "dashboard").with_notice(note),
        show: view.show,
        tasks: found
            .items
            .into_iter()
            .map(|t| TaskView {
                id: t.id.0.to_string(),
                title: t.title,
                description: t.description.unwrap_or_default(),
                done: t.done,
                created: when(&t.created_at),
            })
            .collect(),
        total: found.total,
        page: view.page,
        pages,
        back: format!("/dashboard?show={}&page={}", view.show, view.page),
        editing,
        edit_form,
        edit_errors,
        add_form,
        add_errors,
        deleting,
    };
    html(status, &page)
}

/// The dashboard: the session check and the page of tasks share one trip to the database
/// (`tasks::list_by_cookie`); `?edit=` and `?delete=` open a task's edit form or the
/// confirmation of its deletion in its row.
pub async fn get_dashboard(req: HttpRequest, ctx: web::Data<Context>) -> Outcome {
    let q = query(&req);
    let view = view(&q);
    let Some(token) = session_token(&req, &ctx) else {
        return Err(sign_in_first(&req));
    };
    let (principal, found) =
        match tasks::list_by_cookie(&ctx, &token, view.done(), view.request()).await {
            Ok(found) => found,
            Err(Error::SessionRevoked) => return Err(sign_in_first(&req)),
            Err(err) => return Err(err.into()),
        };
    let who = SignedIn::new(principal, &token);
    // Only an account that must have a second factor costs a query here.
    match mfa::check_enrolment(&ctx, &who.principal, Reach::Anything).await {
        Err(Error::MfaEnrolmentRequired) => return Err(Failure::Enrol),
        other => other?,
    }
    let forms = Forms {
        deleting: q.get("delete").cloned(),
        ..Forms::fresh(q.get("edit").cloned())
    };
    show(&who, &view, found, notice(&q), forms)
}

/// Title and description from a form, parsed by the same domain rules as the API's.
fn parse_task(form: &Form) -> Result<(TaskTitle, Option<TaskDescription>), Error> {
    let title = TaskTitle::parse("title", form.get("title"));
    let description = form
        .opt("description")
        .map(|d| TaskDescription::parse("description", &d))
        .transpose();
    match (title, description) {
        (Ok(title), Ok(description)) => Ok((title, description)),
        (title, description) => Err(Error::Validation(
            [title.err(), description.err()]
                .into_iter()
                .flatten()
                .collect::<Vec<FieldError>>(),
        )),
    }
}

fn back_to(form: &Form, notice: &str) -> String {
    let back = safe_next(form.get("back"))
        .filter(|b| b.starts_with("/dashboard"))
        .unwrap_or("/dashboard");
    let sep = if back.contains('?') { '&' } else { '?' };
    format!("{back}{sep}notice={notice}")
}

pub async fn post_task(req: HttpRequest, ctx: web::Data<Context>, body: web::Bytes) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let errors = match parse_task(&form) {
        Ok((title, description)) => {
            match tasks::create(&ctx, &who.principal, title, description, false).await {
                Ok(_) => return Ok(see_other("/dashboard?show=all&page=1&notice=task_added")),
                Err(err) => FormErrors::from_error(err)?,
            }
        }
        Err(err) => FormErrors::from_error(err)?,
    };
    let view = View {
        show: "all",
        page: 1,
    };
    let forms = Forms {
        add_form: form,
        add_errors: errors,
        ..Forms::fresh(None)
    };
    render(&ctx, &who, view, None, forms).await
}

pub async fn post_task_change(
    req: HttpRequest,
    ctx: web::Data<Context>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Outcome {
    let (who, form) = signed_in_form(&req, &ctx, &body).await?;
    let id = path_id(&id).map(TaskId)?;
    let p = &who.principal;
    match form.get("action") {
        "done" | "undone" => {
            let done = form.get("action") == "done";
            tasks::update(&ctx, p, id, None, Patch::Keep, Some(done)).await?;
            Ok(see_other(&back_to(&form, "task_saved")))
        }
        "delete" => {
            tasks::delete(&ctx, p, id).await?;
            Ok(see_other(&back_to(&form, "task_deleted")))
        }
        "save" => {
            let errors = match parse_task(&form) {
                Ok((title, description)) => {
                    let description = description.map_or(Patch::Clear, Patch::Set);
                    match tasks::update(&ctx, p, id, Some(title), description, None).await {
                        Ok(_) => return Ok(see_other(&back_to(&form, "task_saved"))),
                        Err(err) => FormErrors::from_error(err)?,
                    }
                }
                Err(err) => FormErrors::from_error(err)?,
            };
            let back = form.get("back");
            let view = view(&parse_query(back.split_once('?').map_or("", |(_, q)| q)));
            let editing = Some(id.0.to_string());
            let forms = Forms {
                edit_form: form,
                edit_errors: errors,
                ..Forms::fresh(editing)
            };
            render(&ctx, &who, view, None, forms).await
        }
        _ => Err(Error::MalformedRequest("unknown action".into()).into()),
    }
}
