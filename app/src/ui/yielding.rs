//! Hydration in several tasks instead of one.
//!
//! Hydrating a large island (the settings form) is one long task: taps and keys wait behind
//! it on a slow phone. Leptos hydrates an island's content in one synchronous pass, so the
//! split is made here: a [`Defer`] section is left as the server rendered it during that pass, and is
//! hydrated in a task of its own right after (a `setTimeout(0)` later, so the browser handles
//! input and paints in between). Each such section must render exactly one element.
//!
//! Everything else is exactly its children's: the server's HTML, building when shown later,
//! updates. While sections wait, `<body data-pending-sections>` counts them; the page's script
//! marks `<body data-hydrated>` only once none is left (see `super::DeferredHydration`).

use leptos::prelude::*;
use leptos::tachys::html::attribute::Attribute;
use leptos::tachys::html::attribute::any_attribute::AnyAttribute;
use leptos::tachys::hydration::Cursor;
use leptos::tachys::renderer::Rndr;
use leptos::tachys::renderer::types::{Element, Node};
use leptos::tachys::ssr::StreamBuilder;
use leptos::tachys::view::add_attr::AddAnyAttr;
use leptos::tachys::view::{Mountable, Position, PositionState, Render, RenderHtml};
use leptos::wasm_bindgen::JsCast;
use std::cell::RefCell;
use std::rc::Rc;

/// Hydrates `children` (one element) in a task of its own, after the rest of the page. In the
/// browser the children are also made there, not with the page: their components' own work
/// (reading the data, setting up signals) leaves the page's first task too.
#[component]
pub fn Defer(children: Children) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    let content = Content::Later(Owner::current(), children);
    #[cfg(not(feature = "hydrate"))]
    let content = Content::Made(children());
    Deferred { content }
}

/// The view behind [`Defer`].
pub struct Deferred {
    content: Content,
}

enum Content {
    Made(AnyView),
    /// Made when needed, under the owner [`Defer`] had.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    Later(Option<Owner>, Children),
}

impl Content {
    fn view(self) -> AnyView {
        match self {
            Content::Made(view) => view,
            Content::Later(Some(owner), children) => owner.with(children),
            Content::Later(None, children) => children(),
        }
    }
}

/// Before its hydration: the server's element. After: the children's own state.
pub struct DeferredState<S>(Rc<RefCell<Stage<S>>>);

enum Stage<S> {
    Waiting(Element),
    Ready(S),
}

impl<S> DeferredState<S> {
    fn ready(state: S) -> Self {
        DeferredState(Rc::new(RefCell::new(Stage::Ready(state))))
    }
}

impl Render for Deferred {
    type State = DeferredState<<AnyView as Render>::State>;

    fn build(self) -> Self::State {
        DeferredState::ready(self.content.view().build())
    }

    fn rebuild(self, state: &mut Self::State) {
        let mut stage = state.0.borrow_mut();
        match &mut *stage {
            Stage::Ready(inner) => self.content.view().rebuild(inner),
            // New content before the section was hydrated: build it in place of the server's
            // element (the waiting task then finds it ready and leaves it).
            Stage::Waiting(el) => {
                let mut built = self.content.view().build();
                if let Some(parent) = el.parent_element() {
                    built.mount(&parent, Some(el));
                }
                el.remove();
                *stage = Stage::Ready(built);
            }
        }
    }
}

impl<S: Mountable> Mountable for DeferredState<S> {
    fn unmount(&mut self) {
        match &mut *self.0.borrow_mut() {
            Stage::Waiting(el) => el.remove(),
            Stage::Ready(inner) => inner.unmount(),
        }
    }

    fn mount(&mut self, parent: &Element, marker: Option<&Node>) {
        match &mut *self.0.borrow_mut() {
            Stage::Waiting(el) => Rndr::insert_node(parent, el, marker),
            Stage::Ready(inner) => inner.mount(parent, marker),
        }
    }

    fn insert_before_this(&self, child: &mut dyn Mountable) -> bool {
        match &*self.0.borrow() {
            Stage::Waiting(el) => match el.parent_element() {
                Some(parent) => {
                    child.mount(&parent, Some(el));
                    true
                }
                None => false,
            },
            Stage::Ready(inner) => inner.insert_before_this(child),
        }
    }

    fn elements(&self) -> Vec<Element> {
        match &*self.0.borrow() {
            Stage::Waiting(el) => vec![el.clone()],
            Stage::Ready(inner) => inner.elements(),
        }
    }
}

impl RenderHtml for Deferred {
    type AsyncOutput = Self;
    type Owned = Self;

    const MIN_LENGTH: usize = <AnyView as RenderHtml>::MIN_LENGTH;
    const EXISTS: bool = <AnyView as RenderHtml>::EXISTS;

    fn dry_resolve(&mut self) {
        let content = std::mem::replace(&mut self.content, Content::Made(().into_any()));
        let mut view = content.view();
        view.dry_resolve();
        self.content = Content::Made(view);
    }

    async fn resolve(self) -> Self::AsyncOutput {
        Deferred {
            content: Content::Made(self.content.view().resolve().await),
        }
    }

    fn to_html_with_buf(
        self,
        buf: &mut String,
        position: &mut Position,
        escape: bool,
        mark_branches: bool,
        extra_attrs: Vec<AnyAttribute>,
    ) {
        self.content
            .view()
            .to_html_with_buf(buf, position, escape, mark_branches, extra_attrs)
    }

    fn to_html_async_with_buf<const OUT_OF_ORDER: bool>(
        self,
        buf: &mut StreamBuilder,
        position: &mut Position,
        escape: bool,
        mark_branches: bool,
        extra_attrs: Vec<AnyAttribute>,
    ) where
        Self: Sized,
    {
        self.content.view().to_html_async_with_buf::<OUT_OF_ORDER>(
            buf,
            position,
            escape,
            mark_branches,
            extra_attrs,
        )
    }

    fn hydrate<const FROM_SERVER: bool>(
        self,
        cursor: &Cursor,
        position: &PositionState,
    ) -> Self::State {
        // Step onto the section's element, as the element itself would.
        let before = cursor.current();
        match position.get() {
            Position::FirstChild => cursor.child(),
            Position::Current => {}
            _ => cursor.sibling(),
        }
        let el = match cursor.current().dyn_into::<Element>() {
            Ok(el) if FROM_SERVER => el,
            // Not one element (or not the server's HTML): hydrate here and now.
            _ => {
                cursor.set(before);
                let inner = self.content.view().hydrate::<FROM_SERVER>(cursor, position);
                return DeferredState::ready(inner);
            }
        };
        // Leave the cursor after it, as the element would.
        position.set(Position::NextChild);

        let state = Rc::new(RefCell::new(Stage::Waiting(el.clone())));
        let waiting = Rc::downgrade(&state);
        let owner = Owner::current();
        count_pending(1);
        leptos::task::spawn_local(async move {
            next_task().await;
            if let Some(state) = waiting.upgrade() {
                let still_waiting = matches!(*state.borrow(), Stage::Waiting(_));
                if still_waiting {
                    let hydrate = || {
                        self.content
                            .view()
                            .hydrate_from_position::<true>(&el, Position::Current)
                    };
                    let inner = match &owner {
                        Some(owner) => owner.with(hydrate),
                        None => hydrate(),
                    };
                    *state.borrow_mut() = Stage::Ready(inner);
                }
            }
            count_pending(-1);
        });
        DeferredState(state)
    }

    fn into_owned(self) -> Self::Owned {
        self
    }
}

impl AddAnyAttr for Deferred {
    type Output<SomeNewAttr: Attribute> = Self;

    fn add_any_attr<NewAttr: Attribute>(self, attr: NewAttr) -> Self::Output<NewAttr>
    where
        Self::Output<NewAttr>: RenderHtml,
    {
        Deferred {
            content: Content::Made(self.content.view().add_any_attr(attr).into_any()),
        }
    }
}

/// Resolves in a later task: after a `setTimeout(0)`, so the browser handles input and paints
/// in between. (A resolved promise would not do: it runs in the same task.)
#[cfg(feature = "hydrate")]
async fn next_task() {
    let promise = wasm_bindgen_futures::js_sys::Promise::new(&mut |resolve, _| {
        let queued = web_sys::window()
            .is_some_and(|window| window.set_timeout_with_callback(&resolve).is_ok());
        if !queued {
            // Never leave the page half hydrated: go on at once.
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[cfg(not(feature = "hydrate"))]
async fn next_task() {}

/// Adds `change` to `<body data-pending-sections>`, the sections still waiting; removes the
/// attribute when none is left.
fn count_pending(change: isize) {
    #[cfg(feature = "hydrate")]
    if let Some(body) = document().body() {
        let now = body
            .get_attribute("data-pending-sections")
            .and_then(|n| n.parse::<isize>().ok())
            .unwrap_or(0);
        let left = (now + change).max(0);
        let _ = if left == 0 {
            body.remove_attribute("data-pending-sections")
        } else {
            body.set_attribute("data-pending-sections", &left.to_string())
        };
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = change;
}
