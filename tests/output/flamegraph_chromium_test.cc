// The HTML flame graph driven in a real browser: headless Chromium (Debian's chromium) loads
// a copy of the generated page with two scripts added, one before the page's script that
// catches errors (window.onerror, unhandled rejections, console.error) and notes the time,
// one after it that uses the page as a user would: hovers over the canvas to find frames,
// clicks one and checks the zoom, resets, searches (highlight and matched %), then writes
// PASS or FAIL with details into <pre id="result">, which this test reads from --dump-dom.
// A 100k-distinct-stack page must render in under 5 s. Label `unit` (no perf events): it runs
// in CI's default run; without chromium it skips, or fails under WICK_REQUIRE_PERF=1.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "output_fixture.h"
#include "testing/testing.h"
#include "wick/flamegraph.h"

namespace wick {
namespace {

namespace fs = std::filesystem;

constexpr char kChromium[] = "/usr/bin/chromium";

// Runs first: errors anywhere on the page end up in window.__wick_errors.
constexpr std::string_view kHookScript = R"JS(<script>
window.__wick_t0=performance.now();
window.__wick_errors=[];
window.addEventListener("error",e=>window.__wick_errors.push("error: "+e.message+" at "+e.lineno));
window.addEventListener("unhandledrejection",e=>window.__wick_errors.push("rejection: "+e.reason));
(function(){const orig=console.error;console.error=function(){
  window.__wick_errors.push("console.error: "+Array.from(arguments).join(" "));
  return orig.apply(console,arguments);};})();
</script>)JS";

// Runs after the page's script. window.__wick_expect (set by the test) says which checks.
constexpr std::string_view kTestScript = R"JS(<script>
(function(){
const E=window.__wick_expect,log=[];let ok=true;
function check(c,msg){if(!c)ok=false;log.push((c?"ok: ":"FAIL: ")+msg);}
function finish(){
  check(window.__wick_errors.length===0,"no errors: "+JSON.stringify(window.__wick_errors));
  const pre=document.createElement("pre");pre.id="result";
  pre.textContent=(ok?"PASS":"FAIL")+"\n"+log.join("\n");
  document.body.appendChild(pre);
}
try{
  const renderMs=performance.now()-window.__wick_t0;
  // Times are logged for a reader, never checked: a test asserts no duration.
  log.push("initial render "+renderMs.toFixed(0)+" ms");
  const canvas=document.getElementById("fg"),details=document.getElementById("details");
  const search=document.getElementById("search"),match=document.getElementById("match");
  check(document.getElementById("info").textContent===E.info,
        "info line '"+document.getElementById("info").textContent+"'");
  const R=()=>canvas.getBoundingClientRect();
  function mouse(type,x,y){
    const r=R();
    canvas.dispatchEvent(new MouseEvent(type,{clientX:r.left+x,clientY:r.top+y,bubbles:true}));
  }
  // The hover line (details) of the frame under (x, y), "" when none.
  function hover(x,y){details.textContent="";mouse("mousemove",x,y);return details.textContent;}
  // Every frame the hover finds on a grid: name -> {x, y, x1 (last x on the same row), text}.
  function scan(){
    const r=R(),map={},step=r.width/400;
    for(let y=r.height-3;y>0;y-=4)for(let x=step/2;x<r.width;x+=step){
      const t=hover(x,y);if(!t)continue;
      const n=t.split("  |  ")[0],m=map[n];
      if(!m)map[n]={x:x,y:y,x1:x,text:t};else if(m.y===y)m.x1=x;
    }
    return map;
  }
  function share(f){return f?(f.x1-f.x+R().width/400)/R().width:0;}
  function pixel(x,y){
    const d=window.devicePixelRatio||1;
    return Array.from(canvas.getContext("2d").getImageData(Math.floor(x*d),Math.floor(y*d),1,1).data)
        .slice(0,3).join(",");
  }
  function doSearch(q){
    search.value=q;
    search.dispatchEvent(new KeyboardEvent("keydown",{key:"Enter",bubbles:true}));
    return match.textContent;
  }
  if(E.names){
    const f=scan();
    for(const n of E.names)check(n in f,"frame "+JSON.stringify(n)+" drawn");
    log.push("drawn: "+JSON.stringify(Object.keys(f)));
  }
  if(E.frames){
    let f=scan();
    for(const n of E.frames)check(n in f,"frame "+n+" drawn");
    for(const n in E.widths)
      check(Math.abs(share(f[n])-E.widths[n])<0.02,n+" is "+E.widths[n]+" of the width: "+share(f[n]));
    check(f.a&&f.b&&f.c&&f.a.x<f.b.x&&f.b.x<f.c.x,"a, b, c left to right");
    for(const n in E.hover)check(f[n]&&f[n].text===E.hover[n],"hover "+n+": '"+(f[n]&&f[n].text)+"'");
    // Click b: it fills the width, its siblings are gone, its ancestors stay.
    const b=f.b;
    mouse("click",b.x+1,b.y);
    f=scan();
    check(share(f.b)>0.97,"zoomed b fills the width: "+share(f.b));
    check(!("a" in f)&&!("c" in f),"siblings a and c hidden while zoomed");
    check("work" in f&&share(f.work)>0.97,"ancestor work spans the width");
    check(f.b&&f.b.text.indexOf("100.00% of zoom")>=0,"hover on zoomed b: '"+(f.b&&f.b.text)+"'");
    // Reset.
    document.getElementById("reset").click();
    f=scan();
    check("a" in f&&Math.abs(share(f.b)-E.widths.b)<0.02,"reset restores the full view");
    check(f.b&&f.b.text.indexOf("of zoom")<0,"no zoom share after reset");
    // Search: matched share and highlight.
    const plain=pixel(f.a.x,f.a.y);
    check(doSearch(E.search)===E.search_match,"search "+E.search+": '"+match.textContent+"'");
    check(pixel(f.a.x,f.a.y)==="230,0,230","a highlighted: "+pixel(f.a.x,f.a.y));
    check(pixel(f.b.x,f.b.y)!=="230,0,230","b not highlighted");
    // Zooming keeps the search; shares stay of all samples.
    mouse("click",f.c.x+1,f.c.y);
    check(doSearch(E.search2)===E.search2_match,"search "+E.search2+" zoomed: '"+match.textContent+"'");
    document.getElementById("clear").click();
    document.getElementById("reset").click();
    check(match.textContent==="","clear empties the match line");
    check(pixel(f.a.x,f.a.y)===plain,"clear removes the highlight");
    check(doSearch("(")==="bad regex","a bad regex is reported");
  }
  // The root row: the lowest row the hover finds, in canvas coordinates (-1: not the root).
  function rootY(){
    const r=R();
    for(let y=r.height-1;y>0;y-=2){const t=hover(r.width/2,y);if(t)return t.indexOf("all  |")===0?y:-1;}
    return -1;
  }
  // Canvas point (x, y) is inside the window and nothing (the header) covers it.
  function onScreen(x,y){
    const r=R(),cx=r.left+x,cy=r.top+y;
    return cy>=0&&cy<window.innerHeight&&document.elementFromPoint(cx,cy)===canvas;
  }
  function rootOnScreen(when){
    const y=rootY();
    check(y>=0&&onScreen(R().width/2,y),"root on screen "+when+" (canvas top "+R().top.toFixed(0)+
          ", height "+R().height.toFixed(0)+", root row at "+y+", window "+window.innerHeight+
          ", scrollY "+window.scrollY+")");
    return y;
  }
  // The x of the first frame named n on the row at y, in quarter pixels; -1 when not drawn.
  function findOnRow(n,y){
    const w=R().width;
    for(let x=0.125;x<w;x+=0.25)if(hover(x,y).split("  |  ")[0]===n)return x;
    return -1;
  }
  if(E.deep){
    const X=E.deep,leftOut=()=>{const e=document.getElementById("leftout");return e?e.textContent:"(no #leftout)";};
    let y0=rootOnScreen("after load");
    // A page taller than the window gets a scroll bar, which narrows the canvas: it is drawn
    // again at that width, not stretched (hover would miss frames near the right edge).
    const px=canvas.width/(window.devicePixelRatio||1);
    check(Math.abs(px-R().width)<0.5,"canvas drawn at its shown width: "+px+" px shown as "+R().width);
    const s=search.getBoundingClientRect();
    check(document.elementFromPoint(s.left+s.width/2,s.top+s.height/2)===search,"search box on screen");
    check(leftOut()===X.left_out,"left out after load: '"+leftOut()+"'");
    for(const [n,d] of X.absent)check(findOnRow(n,y0-17*d)<0,n+" (row "+d+") not drawn");
    // Click the frame to zoom into; with X.still, the page keeps it under the pointer.
    const [zn,zd]=X.zoom,zy=y0-17*zd,zx=findOnRow(zn,zy),cy=R().top+zy;
    check(zx>=0,zn+" drawn on row "+zd);
    mouse("click",zx,zy);
    y0=rootOnScreen("zoomed into "+zn);
    const zt=hover(R().width/2,y0-17*zd);
    check(zt.indexOf(zn+"  |  ")===0&&zt.indexOf("100.00% of zoom")>0,"zoomed "+zn+" fills the width: '"+zt+"'");
    if(X.still){
      const t=hover(zx,cy-R().top);
      check(t.indexOf(zn+"  |  ")===0,"zoomed "+zn+" still under the pointer: '"+t+"'");
    }
    check(leftOut()===X.zoom_left_out,"left out zoomed: '"+leftOut()+"'");
    for(const [n,d] of X.revealed)check(findOnRow(n,y0-17*d)>=0,n+" (row "+d+") drawn when zoomed");
    document.getElementById("reset").click();
    y0=rootOnScreen("after reset");
    check(leftOut()===X.left_out,"left out after reset: '"+leftOut()+"'");
    check(doSearch(X.search)===X.search_match,"search "+X.search+": '"+match.textContent+"'");
  }
  if(E.big_search){
    let t=performance.now();
    check(doSearch(E.big_search)===E.big_search_match,"search "+E.big_search+": '"+match.textContent+"'");
    log.push("search "+(performance.now()-t).toFixed(0)+" ms");
    // Click the frame in the middle of the third row from the bottom (one of the ten top_N,
    // below all and the thread): it then fills the width.
    const r=R(),y=r.height-4-2*17-8;t=performance.now();
    mouse("click",r.width/2,y);
    log.push("zoom "+(performance.now()-t).toFixed(0)+" ms");
    const h=hover(r.width/10,y);
    check(h.indexOf("top_")===0&&h.indexOf("100.00% of zoom")>=0,"zoomed: '"+h+"'");
  }
}catch(e){check(false,"exception: "+e+"\n"+e.stack);}
finish();
})();
</script>)JS";

// Adds a 16-byte kernel symbol named `name` to `rec` (addresses ascending, as the recording
// keeps them) and returns its address.
uint64_t AddKernelSymbol(Recording* rec, const std::string& name) {
  KernelSymbol k;
  k.address = 0xffffffff90000000 + 0x10 * rec->kernel_symbols.size();
  k.size = 0x10;
  k.name = name;
  rec->kernel_symbols.push_back(std::move(k));
  return rec->kernel_symbols.back().address;
}

// Thread "deep": main -> work -> {a, b -> tiny, d_0 -> d_1 -> ... -> d_297}, so the d stack is
// 300 frames deep (302 rows with the root and the thread), with `a`, `b` (self), `tiny` and
// `deep` samples at the leaves.
Recording DeepRecording(uint64_t a, uint64_t b, uint64_t tiny, uint64_t deep) {
  Recording rec;
  rec.comms.push_back({0, "deep"});
  auto frame = [&](const std::string& name) { return Kernel(AddKernelSymbol(&rec, name)); };
  const Frame main_frame = frame("main"), work = frame("work"), b_frame = frame("b");
  auto add = [&](std::vector<Frame> frames, uint64_t count) {
    RecordedStack stack;
    stack.id = static_cast<uint32_t>(rec.stacks.size());
    stack.comm = 0;
    stack.frames = std::move(frames);
    stack.count = count;
    rec.stacks.push_back(std::move(stack));
  };
  add({frame("a"), work, main_frame}, a);
  add({b_frame, work, main_frame}, b);
  add({frame("tiny"), b_frame, work, main_frame}, tiny);
  std::vector<Frame> deep_frames;
  for (int i = 0; i < 298; ++i) deep_frames.push_back(frame(absl::StrCat("d_", i)));
  std::reverse(deep_frames.begin(), deep_frames.end());  // leaf first
  deep_frames.push_back(work);
  deep_frames.push_back(main_frame);
  add(std::move(deep_frames), deep);
  return rec;
}

class FlameGraphChromiumTest : public OutputTest {
 protected:
  void SetUp() override {
    OutputTest::SetUp();
    if (access(kChromium, X_OK) != 0) {
      WICK_SKIP_OR_FAIL(std::string(kChromium) + " not found (apt-get install chromium)");
    }
    dir_ = absl::StrCat(::testing::TempDir(), "/wick-chromium-test.", getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  // Writes the page with the hook and test scripts added and `expect` (a JS object literal)
  // as window.__wick_expect; loads it in Chromium and returns <pre id="result">'s text.
  // `extra` is inserted right after the hook script (to check the hook itself).
  std::string Drive(const Recording& rec, const std::string& expect, double* seconds,
                    const std::string& extra = "") {
    std::ostringstream html;
    absl::Status s = WriteFlameGraph(ProfileOf(rec), html, opts_);
    EXPECT_TRUE(s.ok()) << s;
    std::string page = html.str();
    const size_t head = page.find("<head>");
    const size_t body_end = page.rfind("</body>");
    if (head == std::string::npos || body_end == std::string::npos) {
      ADD_FAILURE() << "no <head> or </body> in the page";
      return "";
    }
    page.insert(body_end, absl::StrCat("<script>window.__wick_expect=", expect, ";</script>",
                                       std::string(kTestScript)));
    page.insert(head + 6, std::string(kHookScript) + extra);
    const std::string path = dir_ + "/page.html";
    std::ofstream(path) << page;
    const std::string dom_path = dir_ + "/dom.html";
    const std::string cmd = absl::StrCat(
        "timeout 60 ", kChromium,
        " --headless --no-sandbox --disable-gpu --disable-background-networking"
        " --disable-component-update --disable-sync --no-first-run --user-data-dir=",
        dir_, "/profile --window-size=1200,900 --virtual-time-budget=5000 --dump-dom file://", path,
        " > ", dom_path, " 2> ", dir_, "/chromium.log");
    const auto start = std::chrono::steady_clock::now();
    const int rc = std::system(cmd.c_str());
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << cmd << " -> " << rc;
    std::ifstream in(dom_path);
    std::stringstream dom;
    dom << in.rdbuf();
    const std::string text = dom.str();
    const std::string open = "<pre id=\"result\">";
    const size_t at = text.find(open);
    if (at == std::string::npos) {
      ADD_FAILURE() << "no result in the dumped DOM (" << text.size()
                    << " bytes): " << text.substr(0, 2000);
      return "";
    }
    const size_t close = text.find("</pre>", at);
    return text.substr(at + open.size(), close - at - open.size());
  }

  // Drive() that expects PASS; prints the checks and how long Chromium ran.
  void ExpectPass(const Recording& rec, const std::string& expect) {
    double seconds = 0;
    const std::string result = Drive(rec, expect, &seconds);
    EXPECT_EQ(result.substr(0, 4), "PASS") << result;
    std::printf("%s\nchromium ran %.1f s\n", result.c_str(), seconds);
  }

  std::string dir_;
  FlameGraphOptions opts_;  // the page Drive writes
};

TEST_F(FlameGraphChromiumTest, ClickZoomsSearchHighlightsNoErrors) {
  AddKnownTree();  // 12 samples: main -> work -> a 6, b 3, c 3 (2 of them in the kernel)
  // 12 samples: a 6 (50 %), b 3, c 3 (25 % each); ^(a|c)$ matches 9 = 75 %; ext4 the 2
  // kernel samples under c (16.67 % of all, also while zoomed into c).
  const std::string expect = R"JS({
    info: "12 samples, 10 frames",
    frames: ["all", "known_tree_fp", "main", "work", "a", "b", "c", "ext4_sync_fs"],
    widths: {a: 0.5, b: 0.25, c: 0.25, work: 1, main: 1},
    hover: {a: "a  |  6 samples, 50.00% of all  |  self: 6 samples",
            c: "c  |  3 samples, 25.00% of all  |  self: 1 samples"},
    search: "^(a|c)$", search_match: "matched 75.00% (9 samples)",
    search2: "ext4", search2_match: "matched 16.67% (2 samples)"
  })JS";
  double seconds = 0;
  const std::string result = Drive(rec_, expect, &seconds);
  EXPECT_EQ(result.substr(0, 4), "PASS") << result;
  std::printf("%s\nchromium ran %.1f s\n", result.c_str(), seconds);
}

// Thread names hold any byte but NUL: valid UTF-8 shows as it is, a byte that is not UTF-8 as
// U+FFFD, and quotes, backslashes, a newline and "</script>" do not break the page.
TEST_F(FlameGraphChromiumTest, NamesThatAreNotPlainAsciiShowAsTheyAre) {
  rec_.comms.push_back({1, "\xc5\xbelu\xc5\xa5"});    // "žluť"
  rec_.comms.push_back({2, "q\xff\"\\\n</script>"});  // invalid byte, quote, backslash, newline
  AddStack(1, {F("a"), F("work"), F("main")}, 6);
  AddStack(2, {F("b"), F("work"), F("main")}, 6);
  uint64_t replaced = 0;
  FlameGraphOptions opts;
  opts.text_not_utf8 = &replaced;
  ASSERT_FALSE(FlameGraphJson(Prof(), opts).empty());
  EXPECT_EQ(replaced, 1u);
  // (The expectation sits in a <script> of its own: its "</script>" is written <\/script>.)
  // The newline shows as \n (it would split the tooltip).
  const std::string expect = R"JS({
    info: "12 samples, 9 frames",
    names: ["\u017elu\u0165", "q\uFFFD\"\\\\n<\/script>", "a", "b", "work", "main"]
  })JS";
  double seconds = 0;
  const std::string result = Drive(rec_, expect, &seconds);
  EXPECT_EQ(result.substr(0, 4), "PASS") << result;
}

// The harness itself: an uncaught exception and a console.error on the page fail the check.
TEST_F(FlameGraphChromiumTest, PageErrorsAreCaught) {
  AddKnownTree();
  double seconds = 0;
  const std::string result =
      Drive(rec_, R"JS({info: "12 samples, 10 frames"})JS", &seconds,
            "<script>null.x;</script><script>console.error('boom', 42);</script>");
  EXPECT_EQ(result.substr(0, 4), "FAIL") << result;
  EXPECT_NE(result.find("error: Uncaught TypeError"), std::string::npos) << result;
  EXPECT_NE(result.find("console.error: boom 42"), std::string::npos) << result;
  EXPECT_NE(result.find("ok: info line"), std::string::npos) << result;
}

// An -a -g recording where one sample's stack is 300 frames deep and the rest are shallow:
// the page opens on the root (not on 5,000 px of empty rows above it), the thin stack and
// `tiny` (5 of 10,000 samples: 0.6 px) are left out and the page says what they hold, zooming
// into b draws tiny, and search still counts the frames that are not drawn.
TEST_F(FlameGraphChromiumTest, OneDeepThinStackOpensOnTheRoot) {
  const Recording rec = DeepRecording(/*a=*/6000, /*b=*/3994, /*tiny=*/5, /*deep=*/1);
  // Left out: d_0..d_297 (1 sample) and tiny (5); the frames: all, deep, main, work, a, b,
  // tiny and 298 d_N.
  const std::string expect = R"JS({
    info: "10000 samples, 305 frames",
    deep: {left_out: "left out: 299 frames narrower than 1 px (6 samples)",
           absent: [["d_0", 4], ["tiny", 5]],
           zoom: ["b", 4], zoom_left_out: "", revealed: [["tiny", 5]],
           search: "^d_297$", search_match: "matched 0.010% (1 samples)"}
  })JS";
  ExpectPass(rec, expect);
}

// --minwidth 0.04%: tiny (0.05 %) is drawn from the start, the deep stack (0.01 %) is not.
TEST_F(FlameGraphChromiumTest, MinWidthInPercentOfTheDrawnWidth) {
  const Recording rec = DeepRecording(/*a=*/6000, /*b=*/3994, /*tiny=*/5, /*deep=*/1);
  opts_.min_width = {0.04, true};
  const std::string expect = R"JS({
    info: "10000 samples, 305 frames",
    deep: {left_out: "left out: 298 frames narrower than 0.04% (1 sample)",
           absent: [["d_0", 4]],
           zoom: ["b", 4], zoom_left_out: "", revealed: [["tiny", 5]],
           search: "^d_297$", search_match: "matched 0.010% (1 samples)"}
  })JS";
  ExpectPass(rec, expect);
}

// node's deep recursion: a 300-frame stack with half the samples is drawn, so the page is
// 5,000 px tall. It opens scrolled to the root with the header still on screen; zooming
// into the shallow half (the page shrinks) and back (it grows) keeps the root in view.
TEST_F(FlameGraphChromiumTest, DeepWideStackOpensScrolledToTheRoot) {
  const Recording rec = DeepRecording(/*a=*/5000, /*b=*/0, /*tiny=*/0, /*deep=*/5000);
  const std::string expect = R"JS({
    info: "10000 samples, 303 frames",
    deep: {left_out: "", absent: [], zoom: ["a", 4], still: true, zoom_left_out: "", revealed: [],
           search: "^d_297$", search_match: "matched 50.00% (5000 samples)"}
  })JS";
  ExpectPass(rec, expect);
}

// 100,000 distinct stacks (10 top frames x 1000 middle frames x 100,000 distinct leaves, all
// named kernel functions): the page parses, lays out and draws them, a search over 101k names
// finds the one it should, and a zoom works. The times of each are printed, not asserted.
TEST_F(FlameGraphChromiumTest, HundredThousandStacksRenderWithoutFreezing) {
  Recording rec;
  rec.comms.push_back({0, "big"});
  constexpr int kTop = 10, kMid = 1000, kLeaves = 100000;
  auto add_symbol = [&](const std::string& name) { return AddKernelSymbol(&rec, name); };
  std::vector<uint64_t> top, mid;
  for (int i = 0; i < kTop; ++i) top.push_back(add_symbol(absl::StrCat("top_", i)));
  for (int i = 0; i < kMid; ++i) mid.push_back(add_symbol(absl::StrCat("mid_", i)));
  uint64_t total = 0;
  for (int i = 0; i < kLeaves; ++i) {
    RecordedStack stack;
    stack.id = static_cast<uint32_t>(i);
    stack.comm = 0;
    stack.frames = {Kernel(add_symbol(absl::StrCat("leaf_", i))), Kernel(mid[i % kMid]),
                    Kernel(top[i % kTop])};
    stack.count = 1 + i % 3;
    total += stack.count;
    rec.stacks.push_back(std::move(stack));
  }
  // leaf_4243 has 1 + 4243 % 3 = 2 samples.
  char share[32];
  std::snprintf(share, sizeof(share), "%.3f", 100.0 * 2 / double(total));
  const std::string expect =
      absl::StrCat("{info: \"", total, " samples, ", 2 + kTop + kMid + kLeaves,
                   " frames\", big_search: \"^leaf_4243$\",", " big_search_match: \"matched ",
                   share, "% (2 samples)\"}");
  double seconds = 0;
  const std::string result = Drive(rec, expect, &seconds);
  EXPECT_EQ(result.substr(0, 4), "PASS") << result;
  std::printf("%s\nchromium ran %.1f s\n", result.c_str(), seconds);
}

}  // namespace
}  // namespace wick
