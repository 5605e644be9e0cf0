// The differential flame graph of `wick diff` in a real browser: headless Chromium (Debian's
// chromium) loads the page with a script appended that hovers the canvas to find frames, then
// checks that a frame whose share shrank is drawn blue, one that grew red, that the tooltip
// gives base and new shares and the change in points, and that the page raised no error.
// Label `unit` (no perf events); without chromium it skips, or fails under
// WICK_REQUIRE_PERF=1. The plain page's interaction is covered by flamegraph_chromium_test.
#include <sys/wait.h>
#include <unistd.h>

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

constexpr char kChromium[] = "/usr/bin/chromium";

// Inserted first in <head>: collects errors.
constexpr std::string_view kHook = R"JS(<script>
window.__errors=[];
window.addEventListener("error",e=>window.__errors.push("error: "+e.message+" at "+e.lineno));
(function(){const orig=console.error;console.error=function(){
  window.__errors.push("console.error: "+Array.from(arguments).join(" "));
  return orig.apply(console,arguments);};})();
</script>)JS";

// Appended before </body>, after the page's script.
constexpr std::string_view kCheck = R"JS(<script>
(function(){
const log=[];let ok=true;
function check(c,msg){if(!c)ok=false;log.push((c?"ok: ":"FAIL: ")+msg);}
try{
  const canvas=document.getElementById("fg"),details=document.getElementById("details");
  const r=canvas.getBoundingClientRect();
  function hover(x,y){
    details.textContent="";
    canvas.dispatchEvent(new MouseEvent("mousemove",{clientX:r.left+x,clientY:r.top+y,bubbles:true}));
    return details.textContent;
  }
  function pixel(x,y){
    const d=window.devicePixelRatio||1;
    return Array.from(canvas.getContext("2d").getImageData(Math.floor(x*d),Math.floor(y*d),1,1).data).slice(0,3);
  }
  const found={};
  for(let y=r.height-3;y>0;y-=4)for(let x=2;x<r.width;x+=r.width/300){
    const t=hover(x,y);if(!t)continue;
    const n=t.split("  |  ")[0],m=found[n];
    if(!m)found[n]={x:x,x1:x,y:y,text:t};else if(m.y===y)m.x1=x;
  }
  check(document.getElementById("info").textContent==="24 samples, 9 frames (base: 12 samples)",
        "info: "+document.getElementById("info").textContent);
  check(document.querySelector(".legend").textContent.indexOf("grew")>=0,"diff legend");
  for(const n of ["all","main","work","a","b","c"])check(n in found,"frame "+n+" found");
  // The fill right of the label, half a row above the lowest hover hit (the row's bottom).
  function fill(f){return pixel(f.x1-2,f.y-8);}
  const a=fill(found.a),b=fill(found.b),w=fill(found.work);
  check(a[2]===255&&a[0]<200,"a shrank: blue "+a);
  check(b[0]===255&&b[2]<200,"b grew: red "+b);
  check(b[2]<=a[0]+1,"b changed more: deeper "+b+" vs "+a);
  check(w[0]===w[1]&&w[1]===w[2],"work unchanged: grey "+w);
  check(found.a.text.indexOf("base: 6 samples, 50.00% -> new 16.67% (-33.33 points)")>=0,
        "a tooltip: "+found.a.text);
  check(found.b.text.indexOf("base: 3 samples, 25.00% -> new 66.67% (+41.67 points)")>=0,
        "b tooltip: "+found.b.text);
  canvas.dispatchEvent(new MouseEvent("click",{clientX:r.left+found.b.x,clientY:r.top+found.b.y,bubbles:true}));
  check(hover(r.width/2,found.b.y).indexOf("b  |  16 samples")===0,"zoom into b");
}catch(e){check(false,"exception: "+e+"\n"+e.stack);}
check(window.__errors.length===0,"no errors: "+JSON.stringify(window.__errors));
const pre=document.createElement("pre");pre.id="result";
pre.textContent=(ok?"PASS":"FAIL")+"\n"+log.join("\n");
document.body.appendChild(pre);
})();
</script>)JS";

class FlameGraphDiffChromiumTest : public OutputTest {};

TEST_F(FlameGraphDiffChromiumTest, GrowthRedShrinkBlueDeltaInTooltip) {
  if (access(kChromium, X_OK) != 0) {
    WICK_SKIP_OR_FAIL(std::string(kChromium) + " not found (apt-get install chromium)");
  }
  AddKnownTree();  // base: a 6, b 3, c 1 + 2 in the kernel = 12
  const Recording base = rec_;
  rec_.stacks[0].count = 4;   // a: 50 % -> 16.67 %
  rec_.stacks[1].count = 16;  // b: 25 % -> 66.67 %
  rec_.stacks[2].count = 0;
  rec_.stacks[3].count = 4;  // c: 25 % -> 16.67 %
  FlameGraphOptions opts;
  opts.include_comm = false;
  std::ostringstream html;
  WICK_ASSERT_OK(WriteDiffFlameGraph(ProfileOf(base), Prof(), html, opts));
  std::string page = html.str();
  const size_t head = page.find("<head>"), body_end = page.rfind("</body>");
  ASSERT_NE(head, std::string::npos);
  ASSERT_NE(body_end, std::string::npos);
  page.insert(body_end, std::string(kCheck));
  page.insert(head + 6, std::string(kHook));

  const std::string dir = absl::StrCat(::testing::TempDir(), "/wick-diff-chromium.", getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/page.html") << page;
  const std::string cmd = absl::StrCat(
      "timeout 60 ", kChromium,
      " --headless --no-sandbox --disable-gpu --disable-background-networking"
      " --disable-component-update --disable-sync --no-first-run --user-data-dir=",
      dir, "/profile --window-size=1200,900 --virtual-time-budget=5000 --dump-dom file://", dir,
      "/page.html > ", dir, "/dom.html 2> ", dir, "/chromium.log");
  const int rc = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << cmd << " -> " << rc;
  std::ifstream in(dir + "/dom.html");
  std::stringstream dom;
  dom << in.rdbuf();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  const std::string text = dom.str();
  const size_t at = text.find("<pre id=\"result\">");
  ASSERT_NE(at, std::string::npos) << text.substr(0, 2000);
  const std::string result = text.substr(at + 17, text.find("</pre>", at) - at - 17);
  EXPECT_EQ(result.substr(0, 4), "PASS") << result;
  std::printf("%s\n", result.c_str());
}

}  // namespace
}  // namespace wick
