//! Discovery and polite fetching against loopback fixtures: pagination, feed-only sources,
//! the revisit schedule, per-host intervals, robots.txt, Retry-After, the circuit breaker,
//! and bad input (redirect loops, hosts that never answer).

mod common;

use std::time::Duration;

use common::http::{FixtureSite, Response};
use common::{Instance, output_text};

fn article(title: &str, date: Option<&str>) -> String {
    let time = date
        .map(|d| format!("<time datetime=\"{d}T09:00:00Z\">{d}</time>"))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html><html><head><title>{title} | Agency</title></head><body>\
         <nav><a href=\"/\">Home</a> <a href=\"/about\">About</a></nav><main><article><h1>{title}</h1>{time}\
         <p>The agency published {title} today, calling for safe and regular pathways for migrant workers.</p>\
         <p>It asks governments to guarantee fair recruitment, decent housing and access to health care.</p>\
         </article></main><footer><a href=\"/privacy\">Privacy</a></footer></body></html>"
    )
}

struct Env {
    site: FixtureSite,
    pw: Instance,
}

impl std::ops::Deref for Env {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        &self.pw
    }
}

impl Env {
    fn new(fetch: &str, sources: &str) -> Env {
        let site = FixtureSite::start();
        let pw = Instance::new(|db| {
            format!(
                "database = \"{}\"\n[fetch]\ntimeout_secs = 2\n{fetch}\n[email]\nto = [\"alerts@example.org\"]\n{}",
                db.display(),
                sources.replace("{base}", &site.base_url()),
            )
        });
        Env { site, pw }
    }

    /// Statement pages `{prefix}0`, `{prefix}1`... titled "Statement 0", "Statement 1"...
    fn serve_statements(&self, prefix: &str, n: usize) {
        for i in 0..n {
            self.site.set(
                &format!("{prefix}{i}"),
                Response::html(article(&format!("Statement {i}"), None)),
            );
        }
    }

    /// `show --json` of a page of the fixture site.
    fn show_path(&self, path: &str) -> serde_json::Value {
        self.show_json(&self.site.url(path))
    }
}

fn listing_page(links: &[String], next: Option<&str>) -> String {
    let cards: String = links
        .iter()
        .map(|l| format!("<div class=\"card\"><h5><a href=\"{l}\">{l}</a></h5></div>"))
        .collect();
    let next = next
        .map(|n| format!("<nav class=\"pager\"><a rel=\"next\" href=\"{n}\">Next</a></nav>"))
        .unwrap_or_default();
    format!("<html><body><nav><a href=\"/about\">About</a></nav>{cards}{next}</body></html>")
}

#[test]
fn listing_pagination_is_followed_up_to_max_pages() {
    let env = Env::new(
        "per_host_interval_ms = 0",
        "[[sources]]\nname = \"list\"\nkind = \"listing\"\nurl = \"{base}/news\"\n\
         links = \".card a\"\nnext = \"a[rel=next]\"\nmax_pages = 2\nmatch = '/news/s\\d+$'\n",
    );
    let links = |p: usize| {
        (0..3)
            .map(|i| format!("/news/s{}", p * 3 + i))
            .collect::<Vec<_>>()
    };
    env.site.set(
        "/news",
        Response::html(listing_page(&links(0), Some("/news?page=1"))),
    );
    env.site.set(
        "/news?page=1",
        Response::html(listing_page(&links(1), Some("/news?page=2"))),
    );
    env.site.set(
        "/news?page=2",
        Response::html(listing_page(&links(2), None)),
    );
    env.serve_statements("/news/s", 9);
    let out = env.check();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("checked 6 pages"),
        "two listing pages of three statements: {}",
        output_text(&out)
    );
    assert_eq!(env.site.hits("/news?page=2"), 0, "max_pages = 2");
    assert_eq!(
        env.site.hits("/about"),
        0,
        "only statement links are followed"
    );
}

#[test]
fn new_statements_are_checked_while_pagination_goes_on() {
    let env = Env::new(
        "per_host_interval_ms = 0",
        "[[sources]]\nname = \"list\"\nkind = \"listing\"\nurl = \"{base}/news\"\n\
         links = \".card a\"\nnext = \"a[rel=next]\"\nmax_pages = 5\nmatch = '/news/s\\d+$'\n",
    );
    env.site.set(
        "/news",
        Response::html(listing_page(&["/news/s0".into()], Some("/news?page=1"))),
    );
    env.site.set(
        "/news?page=1",
        Response::html(listing_page(&["/news/s1".into()], None)),
    );
    // The second listing page takes 1.5 s to answer (the fetch timeout is 2 s): the newest
    // statement, on the first page, is fetched in the meantime, not after the whole listing.
    let delay = Duration::from_millis(1500);
    env.site.set_delay("/news?page=1", delay);
    env.serve_statements("/news/s", 2);
    let out = env.check();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("checked 2 pages"),
        "{}",
        output_text(&out)
    );
    let newest = &env.site.requests_for("/news/s0")[0];
    let second_listing = &env.site.requests_for("/news?page=1")[0];
    let answered = second_listing.at + delay;
    assert!(
        newest.at < answered,
        "/news/s0 requested {:?} after the second listing page was answered",
        newest.at.duration_since(answered)
    );
    assert_eq!(env.show_path("/news/s0")["title"], "Statement 0");
    assert_eq!(env.show_path("/news/s1")["title"], "Statement 1");
}

#[test]
fn new_statements_go_before_re_checks() {
    let env = Env::new(
        "per_host_interval_ms = 0\nconcurrency = 1",
        "[[sources]]\nname = \"list\"\nkind = \"listing\"\nurl = \"{base}/news\"\n\
         links = \".card a\"\nmatch = '/news/s\\d+$'\n",
    );
    let known: Vec<String> = (0..4).map(|i| format!("/news/s{i}")).collect();
    env.site
        .set("/news", Response::html(listing_page(&known, None)));
    for p in &known {
        env.site.set(p, Response::html(article(p, None)));
    }
    env.check();
    // Next cycle: a new statement on the listing, and every known page due again (--all).
    // Known pages answer slowly, so the listing is read while the first re-check runs.
    let mut links = vec!["/news/s9".to_string()];
    links.extend(known.iter().cloned());
    env.site
        .set("/news", Response::html(listing_page(&links, None)));
    env.site
        .set("/news/s9", Response::html(article("New statement", None)));
    for p in &known {
        env.site.set_delay(p, Duration::from_millis(300));
    }
    env.site.clear_requests();
    let out = env.run(&["check", "--all"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let order: Vec<String> = env
        .site
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.starts_with("/news/s"))
        .collect();
    assert_eq!(order.len(), 5, "{order:?}");
    let new_at = order.iter().position(|p| p == "/news/s9");
    assert!(
        new_at.is_some_and(|i| i <= 1),
        "the new statement waited behind re-checks: {order:?}"
    );
}

#[test]
fn feed_only_source_never_fetches_pages() {
    let env = Env::new(
        "per_host_interval_ms = 0",
        "[[sources]]\nname = \"unnews\"\nkind = \"feed\"\nurl = \"{base}/feed/rss.xml\"\n\
         match = '/story/'\nfetch_pages = false\n",
    );
    let feed = |summary: &str| {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>UN News</title>\
             <item><title>Migrants day</title><link>{}/feed/view/story/1</link><guid isPermaLink=\"true\">{}/story/1</guid>\
             <description>&lt;p&gt;{summary}&lt;/p&gt;</description><pubDate>Mon, 18 Dec 2023 10:00:00 -0400</pubDate></item>\
             </channel></rss>",
            env.site.base_url(),
            env.site.base_url()
        )
    };
    env.site.set("/feed/rss.xml", Response::xml(feed("The Secretary-General marked International Migrants Day with a call for safe pathways.")));
    env.check();
    let v = env.show_path("/story/1");
    assert_eq!(v["title"], "Migrants day");
    assert_eq!(
        v["body"],
        "The Secretary-General marked International Migrants Day with a call for safe pathways."
    );
    env.site.set("/feed/rss.xml", Response::xml(feed("The Secretary-General marked International Migrants Day with a call for legal pathways.")));
    env.check();
    assert_eq!(env.show_path("/story/1")["version"], 2);
    assert_eq!(
        env.site.hits("/story/1") + env.site.hits("/feed/view/story/1"),
        0,
        "story pages are never fetched"
    );
}

#[test]
fn old_statements_are_revisited_less_often() {
    let env = Env::new(
        "per_host_interval_ms = 0",
        "[[sources]]\nname = \"old\"\nkind = \"page\"\nurl = \"{base}/old\"\n\
         [[sources]]\nname = \"fresh\"\nkind = \"page\"\nurl = \"{base}/fresh\"\n",
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    env.site.set(
        "/old",
        Response::html(article("Old statement", Some("2018-12-10"))),
    );
    env.site.set(
        "/fresh",
        Response::html(article("Fresh statement", Some(&today))),
    );
    env.check();
    env.check();
    assert_eq!(
        env.site.hits("/old"),
        1,
        "a 2018 statement is not due again this week"
    );
    assert_eq!(
        env.site.hits("/fresh"),
        2,
        "a statement published today is checked every cycle"
    );
    let out = env.run(&["sources", "--pages"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&env.site.url("/old")), "{text}");
    // --all checks everything now.
    let out = env.run(&["check", "--all"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(env.site.hits("/old"), 2);
}

#[test]
fn no_two_requests_to_a_host_closer_than_the_interval() {
    let sources: String = (0..6)
        .map(|i| {
            format!("[[sources]]\nname = \"p{i}\"\nkind = \"page\"\nurl = \"{{base}}/s{i}\"\n")
        })
        .collect();
    let env = Env::new("per_host_interval_ms = 200\nconcurrency = 4", &sources);
    env.serve_statements("/s", 6);
    env.check();
    let mut times: Vec<_> = env.site.requests().iter().map(|r| r.at).collect();
    times.sort();
    assert!(
        times.len() >= 7,
        "robots.txt and six pages: {}",
        times.len()
    );
    for w in times.windows(2) {
        let gap = w[1].duration_since(w[0]);
        // presswatch spaces the *sending* of requests; the server sees arrivals, which differ
        // by the connection set-up of one request against another (a few ms on loopback,
        // more on a loaded CI machine): 25 ms are allowed for that. A slow machine only makes
        // the gaps longer.
        assert!(
            gap >= Duration::from_millis(175),
            "two requests {gap:?} apart"
        );
    }
}

#[test]
fn robots_txt_is_obeyed() {
    let env = Env::new(
        "per_host_interval_ms = 0",
        "[[sources]]\nname = \"ok\"\nkind = \"page\"\nurl = \"{base}/public/a\"\n\
         [[sources]]\nname = \"no\"\nkind = \"page\"\nurl = \"{base}/private/b\"\n",
    );
    env.site.set(
        "/robots.txt",
        Response::text("User-agent: *\nDisallow: /private/\n"),
    );
    env.site
        .set("/public/a", Response::html(article("Public", None)));
    env.site
        .set("/private/b", Response::html(article("Private", None)));
    let out = env.check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}: disallowed by {}/robots.txt",
            env.site.url("/private/b"),
            env.site.base_url()
        )),
        "{stderr}"
    );
    assert_eq!(env.site.hits("/private/b"), 0);
    assert_eq!(env.site.hits("/public/a"), 1);
    assert_eq!(
        env.site.hits("/robots.txt"),
        1,
        "robots.txt is fetched once and cached"
    );
}

#[test]
fn retry_after_and_circuit_breaker_pause_a_host() {
    let sources: String = (0..7)
        .map(|i| {
            format!("[[sources]]\nname = \"p{i}\"\nkind = \"page\"\nurl = \"{{base}}/s{i}\"\n")
        })
        .collect();
    let env = Env::new("per_host_interval_ms = 0\nconcurrency = 1", &sources);
    for i in 0..7 {
        env.site.set(&format!("/s{i}"), Response::status(500));
    }
    let out = env.check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let served = (0..7)
        .map(|i| env.site.hits(&format!("/s{i}")))
        .sum::<usize>();
    assert_eq!(
        served, 5,
        "the breaker opens after 5 failures in a row:\n{stderr}"
    );
    assert!(stderr.contains("paused until"), "{stderr}");
    let sources = env.run(&["sources"]);
    assert!(
        String::from_utf8_lossy(&sources.stdout).contains("host 127.0.0.1 paused until"),
        "{}",
        output_text(&sources)
    );
    // The pause outlives the process: the next run does not hammer the host either.
    env.check();
    assert_eq!(
        (0..7)
            .map(|i| env.site.hits(&format!("/s{i}")))
            .sum::<usize>(),
        5
    );

    // Retry-After on 429 pauses the host for as long as asked.
    let env = Env::new(
        "per_host_interval_ms = 0\nconcurrency = 1",
        "[[sources]]\nname = \"a\"\nkind = \"page\"\nurl = \"{base}/a\"\n[[sources]]\nname = \"b\"\nkind = \"page\"\nurl = \"{base}/b\"\n",
    );
    env.site.set(
        "/a",
        Response::status(429).with_header("Retry-After", "3600"),
    );
    env.site.set(
        "/b",
        Response::status(429).with_header("Retry-After", "3600"),
    );
    let out = env.check();
    assert_eq!(
        env.site.hits("/a") + env.site.hits("/b"),
        1,
        "{}",
        output_text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Retry-After 3600s"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn bad_input_gets_a_clear_error_and_the_rest_goes_on() {
    // A host that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!("http://{}/statement", silent.local_addr().expect("addr"));
    let _hold = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().flatten() {
            conns.push(c); // keep it open, say nothing
        }
    });
    let env = Env::new(
        "per_host_interval_ms = 0\nrespect_robots = false",
        &format!(
            "[[sources]]\nname = \"loop\"\nkind = \"page\"\nurl = \"{{base}}/loop\"\n\
             [[sources]]\nname = \"htmlfeed\"\nkind = \"feed\"\nurl = \"{{base}}/feed.xml\"\n\
             [[sources]]\nname = \"badmap\"\nkind = \"sitemap\"\nurl = \"{{base}}/sitemap.xml\"\n\
             [[sources]]\nname = \"silent\"\nkind = \"page\"\nurl = \"{silent_url}\"\n\
             [[sources]]\nname = \"good\"\nkind = \"page\"\nurl = \"{{base}}/good\"\n"
        ),
    );
    env.site.set("/loop", Response::redirect(302, "/loop"));
    env.site.set(
        "/feed.xml",
        Response::html("<html><body>Not a feed</body></html>"),
    );
    env.site.set(
        "/sitemap.xml",
        Response::xml("<urlset><url><loc>http://x/a</loc></url><url><lo"),
    );
    env.site
        .set("/good", Response::html(article("Good statement", None)));
    let out = env.check();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "GET {}: too many redirects",
            env.site.url("/loop")
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}: not a valid RSS/Atom feed",
            env.site.url("/feed.xml")
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}: not a valid sitemap",
            env.site.url("/sitemap.xml")
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("GET {silent_url}: timed out after 2s")),
        "{stderr}"
    );
    assert_eq!(
        env.show_path("/good")["title"],
        "Good statement",
        "the good page is stored anyway"
    );
}

#[test]
fn robots_crawl_delay_spaces_requests() {
    let sources: String = (0..3)
        .map(|i| {
            format!("[[sources]]\nname = \"p{i}\"\nkind = \"page\"\nurl = \"{{base}}/s{i}\"\n")
        })
        .collect();
    let env = Env::new("per_host_interval_ms = 0", &sources);
    env.site.set(
        "/robots.txt",
        Response::text("User-agent: *\nCrawl-delay: 0.4\nDisallow: /private/\n"),
    );
    env.serve_statements("/s", 3);
    env.check();
    let mut times: Vec<_> = env
        .site
        .requests()
        .iter()
        .filter(|r| r.path != "/robots.txt")
        .map(|r| r.at)
        .collect();
    times.sort();
    assert_eq!(times.len(), 3);
    for w in times.windows(2) {
        // Same allowance for connection set-up as above.
        assert!(
            w[1].duration_since(w[0]) >= Duration::from_millis(375),
            "{:?}",
            w[1].duration_since(w[0])
        );
    }
}

#[test]
fn rel_canonical_on_the_same_site_names_the_statement() {
    let env = Env::new(
        "per_host_interval_ms = 0",
        "[[sources]]\nname = \"list\"\nkind = \"listing\"\nurl = \"{base}/news\"\nmatch = '/news/'\n",
    );
    env.site.set(
        "/news",
        Response::html(listing_page(&["/news/old-slug".to_string()], None)),
    );
    let with_canonical = article("Moved statement", None).replace(
        "<head>",
        "<head><link rel=\"canonical\" href=\"/news/new-slug\">",
    );
    env.site
        .set("/news/old-slug", Response::html(with_canonical.clone()));
    env.site
        .set("/news/new-slug", Response::html(with_canonical));
    env.check();
    env.check();
    assert_eq!(env.show_path("/news/new-slug")["title"], "Moved statement");
    let out = env.run(&["show", &env.site.url("/news/old-slug")]);
    assert!(
        !out.status.success(),
        "the alias has no versions of its own"
    );
    let pages = env.run(&["sources", "--pages"]);
    assert!(
        String::from_utf8_lossy(&pages.stdout).contains("rel=canonical names"),
        "{}",
        output_text(&pages)
    );
}

fn urlset(entries: &[(&str, &str)]) -> String {
    let urls: String = entries
        .iter()
        .map(|(loc, lastmod)| format!("<url><loc>{loc}</loc><lastmod>{lastmod}</lastmod></url>"))
        .collect();
    format!(
        r#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>"#
    )
}

#[test]
fn sitemap_index_gzipped_urlset_and_lastmod() {
    let env = Env::new(
        "per_host_interval_ms = 0",
        "[[sources]]\nname = \"map\"\nkind = \"sitemap\"\nurl = \"{base}/sitemap.xml\"\n\
         match = '/news/s\\d+$'\n",
    );
    env.site.set(
        "/sitemap.xml",
        Response::new(
            200,
            "application/xml",
            format!(
                r#"<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>{}</loc></sitemap><sitemap><loc>http://elsewhere.invalid/s.xml</loc></sitemap></sitemapindex>"#,
                env.site.url("/news-sitemap.xml.gz")
            ),
        ),
    );
    let (s1, s2) = (env.site.url("/news/s1"), env.site.url("/news/s2"));
    let old = "2018-12-10";
    env.site.set(
        "/news-sitemap.xml.gz",
        Response::new(
            200,
            "application/gzip",
            common::gzip(
                urlset(&[(&s1, old), (&s2, old), (&env.site.url("/about"), old)]).as_bytes(),
            ),
        ),
    );
    for (path, title) in [("/news/s1", "Statement one"), ("/news/s2", "Statement two")] {
        env.site
            .set(path, Response::html(article(title, Some("2018-12-10"))));
    }

    let out = env.check();
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(env.show_path("/news/s1")["title"], "Statement one");
    assert_eq!(env.show_path("/news/s2")["title"], "Statement two");
    assert_eq!(env.site.hits("/about"), 0, "only `match`ing URLs");

    // 2018 statements are not due again this week, and their lastmod is old.
    env.check();
    assert_eq!(env.site.hits("/news/s1"), 1);
    assert_eq!(env.site.hits("/news/s2"), 1);

    // The sitemap says s1 changed after its last check (in another time zone): due now.
    let later = (chrono::Utc::now() + chrono::Duration::minutes(1))
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).expect("offset"))
        .to_rfc3339();
    env.site.set(
        "/news-sitemap.xml.gz",
        Response::new(
            200,
            "application/gzip",
            common::gzip(urlset(&[(&s1, &later), (&s2, old)]).as_bytes()),
        ),
    );
    env.site.set(
        "/news/s1",
        Response::html(article("Statement one, revised", Some("2018-12-10"))),
    );
    let out = env.check();
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(env.site.hits("/news/s1"), 2, "a newer lastmod makes it due");
    assert_eq!(env.site.hits("/news/s2"), 1, "an old lastmod does not");
    assert_eq!(env.show_path("/news/s1")["title"], "Statement one, revised");
}
