"""What people read, read as people do: the PDF and HTML report, and the dashboard in a real browser.

The session's sample publication (a copy per module) is reported on with
`govkpi report --format pdf|html`. The PDF is rendered to PNG with PDFium
and its Chinese is checked to be drawn glyph by glyph (missing glyphs
would all render as the same box) beside the seed document's figures. The
dashboard is started with `govkpi serve` and driven with Chromium through
Playwright: its KPI cards must show the published figures, change with the
area picker, link to each figure's lineage, and load nothing from beyond
127.0.0.1. Screenshots go to the test's output folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from conftest import GOVKPI, govkpi_env, run_govkpi

from govkpi.report import format_number

pytestmark = [pytest.mark.integration]

SEED_FIGURES = {"hrss_training_classes": "12", "hrss_trainees": "571", "hrss_certificates": "524"}


@pytest.fixture(scope="module")
def env(published_db: str, state_dir: Path) -> dict[str, str]:
    return govkpi_env(published_db, state_dir)


def published_year(url: str, area: str, year: int = 2023) -> dict[str, tuple[str, str]]:
    """kpi_code -> (name_zh, the value as the report formats it) of an area's year in marts."""
    with psycopg.connect(url) as conn:
        return {
            code: (name_zh, format_number(value, unit))
            for code, name_zh, unit, value in conn.execute(
                "select k.kpi_code, k.name_zh, k.unit, v.value from marts.dim_kpi k join marts.fct_kpi_value v "
                "on v.kpi_code = k.kpi_code and v.period_grain = 'year' and v.period_start_date = make_date(%s, 1, 1) "
                "and v.area_code = %s and v.breakdown_dimension is null",
                (year, area),
            ).fetchall()
        }


def latest_publication(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("select max(publication_id) from audit.publication").fetchone()[0]


# --------------------------------------------------------------------------
# the PDF, rendered to PNG
# --------------------------------------------------------------------------


def _cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def row_text(document, name: str) -> str:
    """The text at the height of `name` on the page it is on, left to right."""
    for index in range(len(document)):
        page = document[index]
        textpage = page.get_textpage()
        found = textpage.search(name, match_whole_word=False)
        hit = found.get_next()
        if hit:
            start, _ = hit
            _, bottom, _, top = textpage.get_charbox(start)
            return textpage.get_text_bounded(left=0, bottom=bottom - 1, right=page.get_width(), top=top + 1)
    raise AssertionError(f"{name} is not in the PDF")


def test_the_pdf_report_draws_its_chinese_and_the_seed_figures(env, published_db, tmp_path):
    import pypdfium2 as pdfium
    from PIL import ImageChops

    out = tmp_path / "report.pdf"
    proc = run_govkpi(["report", "--year", "2023", "--area", "township", "--format", "pdf", "--out", str(out)], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Wrote {out}" in proc.stdout
    published = published_year(published_db, "township")
    publication = latest_publication(published_db)
    document = pdfium.PdfDocument(str(out))
    text = ""
    glyphs: dict[str, list] = {}
    for index in range(len(document)):
        page = document[index]
        scale = 3
        image = page.render(scale=scale).to_pil().convert("L")
        image.save(tmp_path / f"report-page-{index + 1}.png")
        textpage = page.get_textpage()
        page_text = textpage.get_text_range()
        text += page_text
        height = page.get_height()
        for i in range(textpage.count_chars()):
            ch = textpage.get_text_range(i, 1)
            if not _cjk(ch) or len(glyphs.get(ch, [])) >= 1:
                continue
            left, bottom, right, top = textpage.get_charbox(i)
            box = (int(left * scale), int((height - top) * scale), int(right * scale) + 1, int((height - bottom) * scale) + 1)
            glyphs.setdefault(ch, []).append(image.crop(box).point(lambda p: 255 if p > 128 else 0))
    # every figure of the township's 2023, by name, with the seed's figures among them
    for code, (name_zh, value) in published.items():
        assert name_zh in text, name_zh
        assert value in text, (code, value)
    for code, value in SEED_FIGURES.items():
        # on the KPI's own table row: the text right of its name, at its height
        assert value in row_text(document, published[code][0]).split(), (code, value)
    assert f"Publication: {publication}" in text and "govkpi lineage hrss_trainees" in text
    # Chinese drawn, not boxes: each character has ink, and different characters are
    # drawn differently (a missing glyph draws the same empty box for every character)
    assert len(glyphs) > 100, f"only {len(glyphs)} distinct Chinese characters found in the PDF's text"
    inked = {ch: crops[0] for ch, crops in glyphs.items() if crops[0].getbbox() is not None}
    ink_of = {ch: ImageChops.invert(crop).getbbox() is not None for ch, crop in inked.items()}
    assert all(ink_of.values()) and len(inked) == len(glyphs), "some Chinese characters drew nothing"
    by_size: dict[tuple[int, int], list[tuple[str, bytes]]] = {}
    for ch, crop in inked.items():
        by_size.setdefault(crop.size, []).append((ch, crop.tobytes()))
    same = [
        (a, b)
        for group in by_size.values()
        for i, (a, da) in enumerate(group)
        for b, db in group[i + 1 :]
        if da == db
    ]
    assert not same, f"different characters drawn identically (missing glyphs?): {same[:10]}"


def test_the_html_report_is_one_self_contained_page_with_every_figure_traced(env, published_db, tmp_path):
    out = tmp_path / "report.html"
    proc = run_govkpi(["report", "--year", "2023", "--area", "township", "--format", "html", "--out", str(out)], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = out.read_text(encoding="utf-8")
    publication = latest_publication(published_db)

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.values: dict[str, str] = {}
            self.footnotes: dict[str, str] = {}
            self.links: list[str] = []
            self._kpi = self._cell = self._note = None
            self._buffer = ""

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "tr" and "data-kpi" in a:
                self._kpi = a["data-kpi"]
            if tag == "td" and "value" in (a.get("class") or "").split():
                self._cell, self._buffer = self._kpi, ""
            if tag == "li" and (a.get("id") or "").startswith("fn-"):
                self._note, self._buffer = a["id"][3:], ""
            for name in ("src", "href"):
                if a.get(name):
                    self.links.append(a[name])

        def handle_endtag(self, tag):
            if tag == "td" and self._cell:
                self.values[self._cell] = self._buffer.split()[0] if self._buffer.split() else ""
                self._cell = None
            if tag == "li" and self._note:
                self.footnotes[self._note] = " ".join(self._buffer.split())
                self._note = None

        def handle_data(self, data):
            if self._cell or self._note:
                self._buffer += data

    rows = Rows()
    rows.feed(page)
    published = published_year(published_db, "township")
    assert set(rows.values) == set(published)
    for code, (_, value) in published.items():
        # the value, then its footnote number
        assert re.fullmatch(rf"{re.escape(value)}\d+", rows.values[code]), (code, rows.values[code], value)
        note = rows.footnotes[code]
        assert f"publication {publication}" in note and f"govkpi lineage {code}" in note, note
        assert re.search(r"checks (\d+)/\1 通过", note), note
        assert "源文件" in note
    # self-contained: the font and the charts are in the page; nothing is fetched
    assert "@font-face" in page and "data:font/woff;base64," in page
    assert page.count("<svg") == len(published)
    assert all(link.startswith("#") for link in rows.links), [l for l in rows.links if not l.startswith("#")]
    assert "样例数据为合成数据" in page


# --------------------------------------------------------------------------
# the dashboard, in Chromium
# --------------------------------------------------------------------------


def chromium_executable() -> str | None:
    """The OS's Chromium if there is one; None lets Playwright use the browser `playwright install` fetched."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def dashboard(env):
    """`govkpi serve --port 0` on the module's publication: its base URL while it runs."""
    proc = subprocess.Popen(
        [str(GOVKPI), "serve", "--port", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
            if found:
                yield found.group(1), "".join(lines)
                break
        else:
            pytest.fail("govkpi serve did not start in 120 s:\n" + "".join(lines))
        if proc.poll() is not None:
            pytest.fail(f"govkpi serve exited {proc.returncode}:\n{''.join(lines)}\n{proc.stderr.read()}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_dashboard_shows_the_published_figures_and_follows_the_area_picker(dashboard, published_db, tmp_path):
    from playwright.sync_api import sync_playwright

    base, started = dashboard
    assert "as role govkpi_dashboard" in started
    publication = latest_publication(published_db)
    township = published_year(published_db, "township")
    with psycopg.connect(published_db) as conn:
        village, village_name = conn.execute(
            "select a.area_code, a.name_zh from marts.dim_area a join marts.fct_kpi_value v using (area_code) "
            "where a.area_level = 'village' and v.kpi_code = 'hrss_trainees' and v.period_grain = 'year' "
            "and v.period_start_date = '2023-01-01' and v.breakdown_dimension is null order by v.value desc, 1 limit 1"
        ).fetchone()
    village_year = published_year(published_db, village)

    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1320, "height": 1400})
            page.on("request", lambda request: requests.append(request.url))
            page.goto(base + "?year=2023&area=township")
            assert page.locator("#publication").get_attribute("data-publication") == str(publication)

            def cards() -> dict[str, str]:
                return {
                    card.get_attribute("data-kpi"): card.locator(".value").inner_text().strip()
                    for card in page.locator("article.card").all()
                }

            shown = cards()
            assert shown == {code: value for code, (_, value) in township.items()}
            for code, value in SEED_FIGURES.items():
                assert shown[code] == value, code
            # status colours follow the published status
            with psycopg.connect(published_db) as conn:
                statuses = dict(conn.execute(
                    "select kpi_code, status from marts.fct_kpi_status where area_code = 'township' "
                    "and period_grain = 'year' and period_start_date = '2023-01-01'"
                ).fetchall())
            for code, status in statuses.items():
                assert status in page.locator(f'article.card[data-kpi="{code}"]').get_attribute("class").split(), code
            page.screenshot(path=str(tmp_path / "dashboard-township.png"), full_page=True)

            # the area picker: a village's figures replace the township's
            with page.expect_navigation():
                page.select_option("#area", village)
            assert f"area={village}" in page.url
            assert page.locator("#area option:checked").inner_text().strip().startswith(village_name)
            shown = cards()
            # a KPI the village has no value of (officers, beds: township-level) shows a dash
            assert shown == {code: village_year[code][1] if code in village_year else "–" for code in township}
            assert len(village_year) >= 10
            assert shown["hrss_trainees"] != township["hrss_trainees"][1]

            # back to the township: its villages ranked on the chosen KPI
            page.goto(base + "?year=2023&area=township&rank=hrss_trainees")
            ranked = page.locator("#ranking tbody tr").all()
            assert len(ranked) > 1
            assert ranked[0].get_attribute("data-area") == village

            # each figure links to its lineage: publication, checks, files
            with page.expect_navigation():
                page.locator('article.card[data-kpi="hrss_trainees"] a.lineage').click()
            assert "/lineage?" in page.url
            assert page.locator("#value").inner_text().startswith("571")
            assert page.locator("#publication").inner_text().startswith(str(publication))
            assert page.locator("#checks tbody tr").count() > 0
            assert page.locator("#files tbody tr").count() > 0
            page.screenshot(path=str(tmp_path / "dashboard-lineage.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "dashboard-township.png").stat().st_size > 10_000
    outside = [url for url in requests if urlsplit(url).hostname != "127.0.0.1"]
    assert requests and not outside, outside


def test_a_township_login_sees_only_its_township_on_the_dashboard(env, published_db, tmp_path):
    """The dashboard reads as a BI login: one granted the township sees its township and villages, not the county."""
    import urllib.request

    from govkpi import access

    role = "dashboard_township_reader"
    with psycopg.connect(published_db, autocommit=True) as conn:
        conn.execute(f"drop role if exists {role}")
        conn.execute(f"create role {role} login")
        access.grant(conn, role, "township")
        mine = [r[0] for r in conn.execute(
            "select area_code from marts.dim_area where area_code = 'township' or parent_area_code = 'township'"
        ).fetchall()]
    proc = subprocess.Popen(
        [str(GOVKPI), "serve", "--port", "0", "--role", role],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = ""
        while "Serving" not in line and proc.poll() is None:
            line = proc.stdout.readline()
        found = re.search(r"on (http://127\.0\.0\.1:\d+/) as role (\S+) \((\d+) areas", line)
        assert found, line + proc.stderr.read()
        assert found.group(2) == role and int(found.group(3)) == len(mine)
        # asked for the county, it is shown the first area it may read: the township
        page = urllib.request.urlopen(found.group(1) + "?year=2023&area=county", timeout=60).read().decode()
        options = re.findall(r'<option value="([^"]+)"', page.split('id="area"')[1].split("</select>")[0])
        assert sorted(options) == sorted(mine) and "county" not in options
        assert re.search(r'<option value="township" selected>', page)
        trainees = published_year(published_db, "township")["hrss_trainees"][1]
        assert re.search(rf'data-kpi="hrss_trainees">.*?<span class="value">{re.escape(trainees)}</span>', page, re.S)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
