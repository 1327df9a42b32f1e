//! Guarding bucket listings against the store: each ListObjects page is
//! read into memory by the S3 client, and one key it cannot turn into a
//! path fails the whole page. Every listing answer passes through
//! [`ListGuard`] first: read up to [`PAGE_BYTES`], at most [`LISTING_PAGES`]
//! pages and [`LISTING_BYTES`] in all per listing, and objects whose key is
//! not a valid path (`..`, a newline) taken out and counted, so one odd key
//! cannot hide every archive.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse, HttpResponseBody, HttpService,
    ReqwestConnector,
};
use object_store::{ClientOptions, path::Path as Key};
use quick_xml::events::Event;

/// The most one ListObjects page may hold (S3 sends at most 1000 keys a
/// page, well under 1 MiB).
pub const PAGE_BYTES: usize = 8 * 1024 * 1024;
/// The most pages one listing reads (a million objects at 1000 a page).
pub const LISTING_PAGES: u64 = 1000;
/// The most listing bytes one listing reads, all pages together.
pub const LISTING_BYTES: u64 = 64 * 1024 * 1024;

/// What the listing under way has read, shared by the client and [`crate::Store::list`].
#[derive(Debug, Default)]
pub(crate) struct ListingStats {
    pages: AtomicU64,
    bytes: AtomicU64,
    skipped: AtomicU64,
    exceeded: Mutex<Option<String>>,
}

impl ListingStats {
    /// Starts counting a new listing.
    pub(crate) fn reset(&self) {
        self.pages.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.skipped.store(0, Ordering::Relaxed);
        *self.exceeded.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Keys left out because they are not valid paths.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Which bound the listing passed, if one stopped it.
    pub(crate) fn exceeded(&self) -> Option<String> {
        self.exceeded.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn refuse(&self, why: String) -> HttpError {
        *self.exceeded.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
        HttpError::new(HttpErrorKind::Decode, std::io::Error::other(why))
    }
}

/// Builds the usual HTTP client wrapped in a [`ListGuard`].
#[derive(Debug)]
pub(crate) struct GuardedConnector(pub(crate) Arc<ListingStats>);

impl HttpConnector for GuardedConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(ListGuard { inner, stats: self.0.clone() }))
    }
}

#[derive(Debug)]
struct ListGuard {
    inner: HttpClient,
    stats: Arc<ListingStats>,
}

#[async_trait::async_trait]
impl HttpService for ListGuard {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let listing = req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "list-type=2"));
        let response = self.inner.execute(req).await?;
        if !listing || !response.status().is_success() {
            return Ok(response);
        }
        let pages = self.stats.pages.fetch_add(1, Ordering::Relaxed) + 1;
        if pages > LISTING_PAGES {
            return Err(self.stats.refuse(format!("the store sent more than {LISTING_PAGES} listing pages")));
        }
        let (parts, body) = response.into_parts();
        let body = self.read_page(body).await?;
        let (body, skipped) =
            without_invalid_keys(&body).map_err(|e| HttpError::new(HttpErrorKind::Decode, std::io::Error::other(e)))?;
        self.stats.skipped.fetch_add(skipped, Ordering::Relaxed);
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::from(body)))
    }
}

impl ListGuard {
    /// The page's bytes, refusing more than the bounds allow.
    async fn read_page(&self, body: HttpResponseBody) -> Result<Bytes, HttpError> {
        let mut stream = body.bytes_stream();
        let mut page = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            let total = self.stats.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed) + chunk.len() as u64;
            if page.len() + chunk.len() > PAGE_BYTES {
                return Err(self.stats.refuse(format!("a listing page passed {} MiB", PAGE_BYTES >> 20)));
            }
            if total > LISTING_BYTES {
                return Err(self.stats.refuse(format!("the listing passed {} MiB", LISTING_BYTES >> 20)));
            }
            page.extend_from_slice(&chunk);
        }
        Ok(page.freeze())
    }
}

/// The ListObjects XML `page` without the `<Contents>` whose key is not a
/// valid object path, and how many were taken out.
fn without_invalid_keys(page: &[u8]) -> Result<(Vec<u8>, u64), quick_xml::Error> {
    let mut reader = quick_xml::Reader::from_reader(page);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(page.len()));
    let mut skipped = 0;
    // Inside a <Contents>: its events, and its <Key>'s raw text.
    let mut held: Option<(Vec<Event<'static>>, String)> = None;
    let mut in_key = false;
    loop {
        let event = reader.read_event()?.into_owned();
        match &event {
            Event::Eof => break,
            Event::Start(e) if e.name().as_ref() == b"Contents" => held = Some((Vec::new(), String::new())),
            Event::Start(e) if e.name().as_ref() == b"Key" => in_key = true,
            Event::End(e) if e.name().as_ref() == b"Key" => in_key = false,
            Event::Text(t) if in_key => {
                if let Some((_, key)) = held.as_mut() {
                    key.push_str(&t.decode().map_err(quick_xml::Error::Encoding)?);
                }
            }
            Event::GeneralRef(r) if in_key => {
                if let Some((_, key)) = held.as_mut() {
                    key.push('&');
                    key.push_str(&r.decode().map_err(quick_xml::Error::Encoding)?);
                    key.push(';');
                }
            }
            _ => {}
        }
        let closes = matches!(&event, Event::End(e) if e.name().as_ref() == b"Contents");
        match held.as_mut() {
            Some((events, _)) => events.push(event),
            None => writer.write_event(event)?,
        }
        if closes && let Some((events, raw)) = held.take() {
            let valid = quick_xml::escape::unescape(&raw).is_ok_and(|key| Key::parse(key.as_ref()).is_ok());
            if valid {
                for e in events {
                    writer.write_event(e)?;
                }
            } else {
                skipped += 1;
            }
        }
    }
    Ok((writer.into_inner(), skipped))
}

#[cfg(test)]
mod tests {
    use super::without_invalid_keys;

    #[test]
    fn keys_that_are_not_paths_are_taken_out_and_counted() {
        let page = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name>\
            <Contents><Key>bot/database_backup_20261122_010000.zip</Key><Size>3</Size></Contents>\
            <Contents><Key>bot/../x</Key><Size>1</Size></Contents>\
            <Contents><Key>bot/a&#10;b</Key><Size>1</Size></Contents>\
            <Contents><Key>bot/a&amp;b.zip</Key><Size>2</Size></Contents>\
            <IsTruncated>false</IsTruncated></ListBucketResult>";
        let (kept, skipped) = without_invalid_keys(page.as_bytes()).unwrap();
        let kept = String::from_utf8(kept).unwrap();
        assert_eq!(skipped, 2);
        assert!(kept.contains("<Key>bot/database_backup_20261122_010000.zip</Key><Size>3</Size>"), "{kept}");
        assert!(kept.contains("<Key>bot/a&amp;b.zip</Key>"), "{kept}");
        assert!(!kept.contains("../x") && !kept.contains("&#10;"), "{kept}");
        assert!(kept.ends_with("<IsTruncated>false</IsTruncated></ListBucketResult>"), "{kept}");
    }
}
