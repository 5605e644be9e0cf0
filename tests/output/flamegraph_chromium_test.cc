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

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

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
    absl::Status s = WriteFlameGraph(rec, sym_, html);
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

  std::string dir_;
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
  ASSERT_FALSE(FlameGraphJson(rec_, sym_, opts).empty());
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

// 100,000 distinct stacks (10 top frames x 1000 middle frames x 100,000 distinct leaves, all
// named kernel functions): the page parses, lays out and draws them, a search over 101k names
// finds the one it should, and a zoom works. The times of each are printed, not asserted.
TEST_F(FlameGraphChromiumTest, HundredThousandStacksRenderWithoutFreezing) {
  Recording rec;
  rec.comms.push_back({0, "big"});
  constexpr int kTop = 10, kMid = 1000, kLeaves = 100000;
  const uint64_t base = 0xffffffff90000000;
  auto add_symbol = [&](const std::string& name) {
    KernelSymbol k;
    k.address = base + 0x10 * rec.kernel_symbols.size();
    k.size = 0x10;
    k.name = name;
    rec.kernel_symbols.push_back(std::move(k));
    return rec.kernel_symbols.back().address;
  };
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
