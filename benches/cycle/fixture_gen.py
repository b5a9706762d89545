#!/usr/bin/env python3
"""Generate the cycle-benchmark fixture site (static files, served by nginx).

Layout under OUT/www (nginx root):
  news/<slug>            N statement pages, Drupal/IOM-like HTML, 30-60 KB each (+ .gz)
  news/rss.xml           RSS 2.0 feed of the latest 50 statements
  listing/page-K.html    the paginated listing /news?page=K, 20 links per page, pager "next"
  sitemap.xml            every statement URL
Also OUT/urls.txt (one statement URL a line) and OUT/urlwatch-urls.yaml.

Deterministic (seeded), so two runs produce byte-identical pages: the second cycle is
"all unchanged".
"""

import argparse
import datetime as dt
import gzip
import html
import json
import os
import random

WORDS = """migration migrants refugees displacement humanitarian assistance government partners
community communities organization international border management resettlement return
reintegration labour mobility health protection children women families support response
emergency crisis region regional national local authorities policy framework compact
cooperation development climate change disaster recovery shelter water sanitation food
security livelihoods training capacity data evidence report survey programme project
funding donors appeal million people persons households registration camps settlements
coastal rural urban routes journey safety rights dignity inclusion integration access
services education employment skills diaspora remittances trafficking smuggling victims
counter prevention awareness campaign dialogue forum summit ministers delegation agreement
commitment implementation monitoring assessment needs priorities vulnerable affected host
sustainable solutions durable peace stability conflict violence flooding drought earthquake
storm season year month week today announced welcomed launched called urged stressed noted
said added according while during across within between through toward despite including""".split()

PLACES = """Afghanistan Bangladesh Chad Colombia Djibouti Ecuador Ethiopia Guatemala Haiti
Honduras Iraq Jordan Kenya Lebanon Libya Malawi Mali Mexico Morocco Mozambique Myanmar
Niger Nigeria Pakistan Panama Peru Philippines Senegal Slovenia Somalia Sudan Tunisia
Türkiye Uganda Ukraine Venezuela Yemen Zambia Zimbabwe""".split()

VERBS = ["Welcomes", "Launches", "Scales Up", "Calls for", "Expands", "Supports", "Warns of",
         "Lauds", "Releases", "Strengthens", "Responds to", "Marks"]
TOPICS = ["Humanitarian Assistance", "Labour Mobility Partnership", "Data on Missing Migrants",
          "Return and Reintegration Programme", "Climate Displacement Response",
          "Counter-Trafficking Efforts", "Health Services for Migrants", "Emergency Appeal",
          "Border Management Cooperation", "Shelter Support", "Diaspora Engagement",
          "Regional Migration Dialogue"]

MENU_SECTIONS = ["Who We Are", "Our Work", "Where We Work", "Data and Resources",
                 "Take Action", "2030 Agenda", "News and Events", "Careers"]


def sentence(rng):
    n = rng.randint(10, 26)
    words = [rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.5:
        words.insert(rng.randint(0, n - 1), rng.choice(PLACES))
    s = " ".join(words)
    return s[0].upper() + s[1:] + "."


def paragraph(rng):
    return " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))


def slugify(s):
    out = []
    for ch in s.lower():
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-")


def statements(n, seed):
    rng = random.Random(seed)
    start = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone.utc)
    items = []
    for i in range(n):
        place = rng.choice(PLACES)
        title = f"IOM {rng.choice(VERBS)} {rng.choice(TOPICS)} in {place} ({i + 1})"
        published = start - dt.timedelta(hours=11 * i + rng.randint(0, 10))
        slug = slugify(title)
        items.append({"i": i, "title": title, "slug": slug, "published": published, "place": place,
                      "seed": rng.getrandbits(32)})
    return items  # newest first


def mega_menu(rng):
    parts = ['<div class="mega-menu"><ul class="menu menu--main">']
    for sec in MENU_SECTIONS:
        sec_slug = slugify(sec)
        parts.append(f'<li class="menu-item menu-item--expanded"><span>-</span><a href="/{sec_slug}">{sec}</a>'
                     f'<div class="mega-menu__panel"><p><strong>{sec.upper()}</strong>{sentence(rng)} {sentence(rng)}</p>')
        for _ in range(3):
            col = " ".join(rng.choice(WORDS).capitalize() for _ in range(2))
            parts.append(f'<div class="mega-menu__column"><h4>{col}</h4><ul>')
            for _ in range(5):
                label = " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(1, 4)))
                parts.append(f'<li><a href="/{sec_slug}/{slugify(label)}" class="mega-menu__link">{label}</a></li>')
            parts.append("</ul></div>")
        parts.append("</div></li>")
    parts.append("</ul></div>")
    return "".join(parts)


SVG_ICONS = "".join(
    f'<symbol id="icon-{name}" viewBox="0 0 24 24"><path d="M{a} {b}L{c} {d}C{a} {c} {b} {d} 12 12Z'
    f'M3 3h18v18H3zM6.5 10.5l3 3 7-7"/></symbol>'
    for name, a, b, c, d in [(f"i{k}", k % 20, (k * 7) % 24, (k * 3) % 22, (k * 5) % 21) for k in range(60)])


def drupal_settings(rng, st, size):
    """Inline drupal-settings JSON: mostly constant site config, padded to `size` bytes."""
    settings = {
        "path": {"baseUrl": "/", "pathPrefix": "", "currentPath": f"node/{10000 + st['i']}",
                 "currentPathIsAdmin": False, "isFront": False, "currentLanguage": "en"},
        "pluralDelimiter": "\u0003", "suppressDeprecationErrors": True,
        "gtag": {"tagId": "G-XXXXXXX", "otherIds": [], "events": [], "additionalConfigInfo": []},
        "ajaxPageState": {"libraries": ",".join(f"core/lib{k},iom/theme-{k},views/views.module-{k}" for k in range(40)),
                          "theme": "iom", "theme_token": None},
        "views": {"ajax_path": "/views/ajax", "ajaxViews": {}},
        "user": {"uid": 0, "permissionsHash": "%064x" % rng.getrandbits(256)},
    }
    s = json.dumps(settings)
    pad = []
    k = 0
    while len(s) + sum(len(p) for p in pad) < size:
        pad.append(json.dumps({f"block_{k}": {"id": f"views_block__news_{k}", "region": rng.choice(["header", "content", "footer", "sidebar"]),
                                              "weight": rng.randint(-50, 50), "label": " ".join(rng.choice(WORDS) for _ in range(4))}}) + ",")
        k += 1
    return s[:-1] + ', "blocks": [' + "".join(pad).rstrip(",") + "]}"


def page_html(st, base, related):
    rng = random.Random(st["seed"])
    title = html.escape(st["title"])
    pub = st["published"]
    paras = "\n".join(f"<p>{paragraph(rng)}</p>" for _ in range(rng.randint(6, 12)))
    paras += ('\n<p>For more information please contact the IOM Media Team, '
              '<a href="mailto:media@iom.int">media@iom.int</a></p>')
    rel = "".join(
        f'<div class="views-row"><div class="article-detail"><h5 class="title"><a href="/news/{r["slug"]}">'
        f'{html.escape(r["title"])}</a></h5><div class="tag">Press Release</div>'
        f'<div class="date">{r["published"]:%d %B %Y}</div></div></div>' for r in related)
    settings = drupal_settings(rng, st, rng.randint(300, 22000))
    return f"""<!DOCTYPE html>
<html lang="en" dir="ltr" prefix="og: https://ogp.me/ns#">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="canonical" href="{base}/news/{st['slug']}">
<meta property="og:site_name" content="IOM">
<meta property="og:type" content="article">
<meta property="og:url" content="{base}/news/{st['slug']}">
<meta property="og:title" content="{title}">
<meta property="article:published_time" content="{pub.isoformat()}">
<meta name="twitter:card" content="summary_large_image">
<title>{title} | International Organization for Migration</title>
<link rel="stylesheet" media="all" href="/sites/default/files/css/css_main.css">
<style>.mega-menu{{display:block}} .visually-hidden{{position:absolute}} .pager__item{{display:inline}}</style>
<script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"drupalLanguage":"en","pageType":"press","nid":{10000 + st['i']}}});</script>
<script src="/core/assets/vendor/jquery/jquery.min.js?v=3.6.0"></script>
</head>
<body class="path-node page-node-type-press">
<svg xmlns="http://www.w3.org/2000/svg" style="display:none">{SVG_ICONS}</svg>
<a href="#main-content" class="visually-hidden focusable skip-link">Skip to main content</a>
<div class="dialog-off-canvas-main-canvas" data-off-canvas-main-canvas>
<header class="site-header" role="banner">
  <div class="site-branding"><a href="/" rel="home"><img src="/themes/custom/iom/logo.svg" alt="IOM"></a></div>
  <div class="language-switcher"><ul><li><a href="/news" hreflang="en">English</a></li><li><a href="/fr" hreflang="fr">Français</a></li><li><a href="/es" hreflang="es">Español</a></li></ul></div>
  <nav role="navigation" aria-label="Main navigation" class="main-navigation">{mega_menu(rng)}</nav>
  <div class="search-block"><form action="/search" method="get"><input type="search" name="keywords" placeholder="Search"><button type="submit">Search</button></form></div>
</header>
<main role="main" id="main-content">
<div class="narrow-content">
  <div class="breadcrumb-wrapper"><nav class="breadcrumb" aria-label="Breadcrumb"><ol><li><a href="/news">News -</a></li><li><a href="/">Global</a></li></ol></nav></div>
  <h1 class="page-title"><span class="field field--name-title">{title}</span></h1>
  <div class="date"><time datetime="{pub:%Y-%m-%dT%H:%M:%SZ}">{pub:%d %B %Y}</time></div>
  <div class="tag">Press Release</div>
  <article data-history-node-id="{10000 + st['i']}" class="node node--type-press-release node--view-mode-full">
    <div class="clearfix text-formatted field field--name-body field--type-text-with-summary field--label-hidden field__item">
<p>{html.escape(st['place'])} – {paragraph(rng)}</p>
{paras}
    </div>
  </article>
  <div class="social-share block block-addtoany">
  <span class="share-label">Share this</span>
  <a class="a2a_button_facebook" href="https://www.addtoany.com/add_to/facebook?linkurl=x">Facebook</a>
  <a class="a2a_button_twitter" href="https://www.addtoany.com/add_to/twitter?linkurl=x">Twitter</a>
  <a class="a2a_button_linkedin" href="https://www.addtoany.com/add_to/linkedin?linkurl=x">LinkedIn</a>
  <a class="a2a_button_email" href="mailto:?subject=x">Email</a>
</div>
</div>
<div class="related-news block views-block">
  <h2>Related News</h2>
  {rel}
</div>
</main>
<footer class="site-footer" role="contentinfo">
  <div class="footer-menus">
    <ul class="menu"><li><a href="/contact">Contact</a></li><li><a href="/careers">Careers</a></li><li><a href="/procurement">Procurement</a></li><li><a href="/terms-and-conditions">Terms and Conditions</a></li><li><a href="/privacy">Privacy Policy</a></li></ul>
    <div class="newsletter-signup"><h3>Subscribe to our newsletter</h3><form><input type="email" placeholder="Email"><button>Subscribe</button></form></div>
    <ul class="social-links"><li><a href="https://twitter.com/UNmigration">Twitter</a></li><li><a href="https://www.facebook.com/IOM">Facebook</a></li><li><a href="https://www.youtube.com/IOM">YouTube</a></li></ul>
  </div>
  <p class="copyright">© International Organization for Migration. 17 Route des Morillons, 1211 Geneva, Switzerland.</p>
</footer>
</div>
<script type="application/json" data-drupal-selector="drupal-settings-json">{settings}</script>
<script src="/sites/default/files/js/js_main.js"></script>
</body>
</html>
"""


def listing_html(page, per_page, items, n_pages):
    rows = "\n".join(
        f'<div class="views-row"><div class="article-detail"><h5 class="title"><a href="/news/{s["slug"]}" hreflang="en">'
        f'{html.escape(s["title"])}</a></h5><div class="tag">Press Release</div>'
        f'<div class="date">{s["published"]:%d %B %Y}</div></div></div>' for s in items)
    nxt = (f'<li class="pager__item pager__item--next"><a href="?page={page + 1}" title="Go to next page" rel="next">Next ›</a></li>'
           if page + 1 < n_pages else "")
    prev = (f'<li class="pager__item pager__item--previous"><a href="?page={page - 1}" rel="prev">‹ Previous</a></li>'
            if page > 0 else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>News | International Organization for Migration</title></head>
<body class="path-news">
<header class="site-header"><nav class="main-navigation"><ul><li><a href="/who-we-are">Who We Are</a></li><li><a href="/news">News</a></li></ul></nav></header>
<main role="main"><h1 class="page-title">News</h1>
<div class="view view-news view-id-news"><div class="view-content">
{rows}
</div>
<nav class="pager" role="navigation"><ul class="pager__items js-pager__items">{prev}<li class="pager__item is-active">Page {page + 1}</li>{nxt}</ul></nav>
</div></main>
<footer class="site-footer"><p>© International Organization for Migration</p></footer>
</body></html>
"""


def rss(base, items):
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
           f'<channel><title>IOM News</title><link>{base}/news</link><description>IOM press releases</description><language>en</language>']
    for s in items:
        url = f"{base}/news/{s['slug']}"
        out.append(f"<item><title>{html.escape(s['title'])}</title><link>{url}</link>"
                   f"<description>{html.escape(s['title'])}</description>"
                   f"<pubDate>{s['published']:%a, %d %b %Y %H:%M:%S +0000}</pubDate>"
                   f'<guid isPermaLink="true">{url}</guid></item>')
    out.append("</channel></rss>\n")
    return "\n".join(out)


def write(path, data, gz):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    b = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(b)
    if gz:
        with open(path + ".gz", "wb") as f:
            f.write(gzip.compress(b, compresslevel=6, mtime=0))
    return len(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--base", required=True, help="e.g. http://127.0.0.1:18080")
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--per-page", type=int, default=20)
    ap.add_argument("--feed-items", type=int, default=50)
    ap.add_argument("--seed", type=int, default=20260601)
    ap.add_argument("--no-gzip", action="store_true")
    a = ap.parse_args()
    base = a.base.rstrip("/")
    gz = not a.no_gzip
    www = os.path.join(a.out, "www")
    items = statements(a.pages, a.seed)
    sizes = []
    for st in items:
        related = [items[(st["i"] + k) % len(items)] for k in (1, 2, 3)]
        sizes.append(write(os.path.join(www, "news", st["slug"]), page_html(st, base, related), gz))
    n_pages = (len(items) + a.per_page - 1) // a.per_page
    for p in range(n_pages):
        write(os.path.join(www, "listing", f"page-{p}.html"),
              listing_html(p, a.per_page, items[p * a.per_page:(p + 1) * a.per_page], n_pages), gz)
    write(os.path.join(www, "news", "rss.xml"), rss(base, items[:a.feed_items]), gz)
    sm = ['<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    sm += [f"<url><loc>{base}/news/{s['slug']}</loc><lastmod>{s['published']:%Y-%m-%d}</lastmod></url>" for s in items]
    sm.append("</urlset>\n")
    write(os.path.join(www, "sitemap.xml"), "\n".join(sm), gz)
    with open(os.path.join(a.out, "urls.txt"), "w") as f:
        f.writelines(f"{base}/news/{s['slug']}\n" for s in items)
    with open(os.path.join(a.out, "urlwatch-urls.yaml"), "w") as f:
        f.write("\n---\n".join(f"name: \"statement {s['i'] + 1}\"\nurl: \"{base}/news/{s['slug']}\"" for s in items) + "\n")
    sizes.sort()
    print(f"fixture: {len(items)} pages, {n_pages} listing pages, size min/median/max "
          f"{sizes[0] // 1024}/{sizes[len(sizes) // 2] // 1024}/{sizes[-1] // 1024} KB, total {sum(sizes) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
