#include "wick/flamegraph.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "wick/status.h"
#include "wick/text.h"

namespace wick {
namespace {

static_assert(
    static_cast<int>(FlameKind::kUser) == static_cast<int>(FrameCategory::kUser) &&
        static_cast<int>(FlameKind::kKernel) == static_cast<int>(FrameCategory::kKernel) &&
        static_cast<int>(FlameKind::kInlined) == static_cast<int>(FrameCategory::kInlined) &&
        static_cast<int>(FlameKind::kUnknown) == static_cast<int>(FrameCategory::kUnknown) &&
        static_cast<int>(FlameKind::kOffCpu) == static_cast<int>(FrameCategory::kOffCpu),
    "a display frame's category is its flame kind");

class Tree {
 public:
  Tree() { nodes_.push_back({Intern("all", FlameKind::kRoot), 0, 0, {}}); }

  uint32_t Intern(const std::string& name, FlameKind kind) {
    auto [it, inserted] =
        name_index_.try_emplace(std::make_pair(name, kind), static_cast<uint32_t>(names_.size()));
    if (inserted) names_.push_back({name, kind});
    return it->second;
  }

  // The child of `parent` named `name`, created on first use.
  uint32_t Child(uint32_t parent, uint32_t name) {
    auto [it, inserted] = child_index_.try_emplace((uint64_t{parent} << 32) | name,
                                                   static_cast<uint32_t>(nodes_.size()));
    if (inserted) {
      nodes_.push_back({name, 0, 0, {}});
      nodes_[parent].children.push_back(it->second);
    }
    return it->second;
  }

  void Add(uint32_t node, uint64_t count) { nodes_[node].total += count; }
  void AddBase(uint32_t node, uint64_t count) { nodes_[node].base += count; }

  // With `diff`, every node carries its base count and the document the base total. Names
  // that are not UTF-8 are counted in *replaced.
  std::string Json(const Profile& p, bool diff, uint64_t* replaced) {
    diff_ = diff;
    std::string out = "{\"event\":";
    AppendJsonString(p.event, &out, JsonEscape::kInsideHtmlScript, replaced);
    const ValueType& t = p.shown_type();
    out += ",\"unit\":";
    AppendJsonString(t.nanoseconds() ? t.unit : t.type, &out, JsonEscape::kInsideHtmlScript,
                     replaced);
    out += ",\"names\":[";
    for (size_t i = 0; i < names_.size(); ++i) {
      if (i != 0) out.push_back(',');
      AppendJsonString(names_[i].first, &out, JsonEscape::kInsideHtmlScript, replaced);
    }
    out += "],\"kinds\":[";
    for (size_t i = 0; i < names_.size(); ++i) {
      if (i != 0) out.push_back(',');
      absl::StrAppend(&out, static_cast<int>(names_[i].second));
    }
    out += "],\"tree\":";
    AppendNode(0, &out);
    if (diff) absl::StrAppend(&out, ",\"diff\":{\"base_total\":", nodes_[0].base, "}");
    out += "}";
    return out;
  }

 private:
  struct Node {
    uint32_t name;
    uint64_t total;
    uint64_t base;  // differential graphs: the base profile's count
    std::vector<uint32_t> children;
  };

  void AppendNode(uint32_t n, std::string* out) {
    Node& node = nodes_[n];
    absl::StrAppend(out, "[", node.name, ",", node.total, ",[");
    std::sort(node.children.begin(), node.children.end(), [&](uint32_t a, uint32_t b) {
      return std::tie(names_[nodes_[a].name].first, nodes_[a].name) <
             std::tie(names_[nodes_[b].name].first, nodes_[b].name);
    });
    for (size_t i = 0; i < node.children.size(); ++i) {
      if (i != 0) out->push_back(',');
      AppendNode(node.children[i], out);
    }
    out->append("]");
    if (diff_) absl::StrAppend(out, ",", node.base);
    out->append("]");
  }

  std::vector<std::pair<std::string, FlameKind>> names_;
  absl::flat_hash_map<std::pair<std::string, FlameKind>, uint32_t> name_index_;
  std::vector<Node> nodes_;
  absl::flat_hash_map<uint64_t, uint32_t> child_index_;
  bool diff_ = false;
};

// Adds every stack of `p` to `tree`, as the new values or (`base`) as the base values.
void AddProfile(const Profile& p, const FlameGraphOptions& opts, bool base, Tree* tree) {
  // Each display frame's and thread's name in the tree, interned once, on first use (so the
  // names are in the order the stacks meet them, and unused threads are not named).
  constexpr uint32_t kNone = UINT32_MAX;
  std::vector<uint32_t> names(p.frames.size(), kNone);
  std::vector<uint32_t> comms(p.comms.size(), kNone);
  auto frame_name = [&](uint32_t f) {
    if (names[f] == kNone) {
      const DisplayFrame& d = p.frames[f];
      names[f] =
          tree->Intern(opts.lines ? NameWithLine(d) : d.name, static_cast<FlameKind>(d.category));
    }
    return names[f];
  };
  auto comm_name = [&](uint32_t c) {
    if (comms[c] == kNone) comms[c] = tree->Intern(p.comms[c], FlameKind::kComm);
    return comms[c];
  };
  auto add = [&](uint32_t node, uint64_t value) {
    if (base) {
      tree->AddBase(node, value);
    } else {
      tree->Add(node, value);
    }
  };
  for (size_t i = 0; i < p.stacks.size(); ++i) {
    const ProfileStack& stack = p.stacks[i];
    const uint64_t value = p.Shown(i);
    add(0, value);
    uint32_t node = 0;
    if (opts.include_comm) {
      node = tree->Child(0, comm_name(stack.comm));
      add(node, value);
    }
    for (uint32_t f : p.Frames(stack)) {
      node = tree->Child(node, frame_name(f));
      add(node, value);
    }
  }
}

constexpr std::string_view kPageHead = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@TITLE@</title>
<style>
html{overflow-anchor:none} /* the script keeps the root in place when the height changes */
body{margin:0;font:13px system-ui,sans-serif;background:#fafafa;color:#222}
#top{position:sticky;top:0;z-index:1;background:#fafafa}
header{display:flex;gap:12px;align-items:center;padding:8px 12px;border-bottom:1px solid #ddd;background:#fff;flex-wrap:wrap}
header h1{font-size:15px;margin:0 8px 0 0}
#search{width:240px;padding:3px 6px}
button{padding:3px 10px}
#info,#match,#leftout,#event{color:#555}
#bar{display:flex;gap:12px;padding:4px 12px}
#leftout{white-space:nowrap;margin-left:auto}
.legend span{display:inline-block;padding:1px 6px;margin-right:4px;border-radius:3px;font-size:11px}
#wrap{position:relative;padding:4px 12px}
canvas{display:block;width:100%}
#tip{position:fixed;pointer-events:none;background:#fffffe;border:1px solid #999;padding:4px 7px;
border-radius:3px;box-shadow:0 2px 6px rgba(0,0,0,.2);display:none;max-width:60em;word-break:break-all;font-size:12px}
#details{min-height:1.4em;font-family:monospace;font-size:12px;color:#333}
</style></head><body>
<div id="top"><header><h1>@TITLE@</h1>
<input id="search" placeholder="search (regex), Enter" spellcheck="false">
<button id="reset">Reset zoom</button><button id="clear">Clear search</button>
<span id="match"></span><span id="info"></span>
<span class="legend"><span style="background:hsl(30,85%,62%)">user</span><span style="background:hsl(210,55%,68%)">kernel</span><span style="background:hsl(170,50%,58%)">inlined</span><span style="background:#bbb">unknown</span><span style="background:hsl(345,65%,45%);color:#fff">off-CPU</span><span style="background:hsl(275,35%,72%)">thread</span></span>
<span id="event"></span>
</header>
<div id="bar"><div id="details"></div>
<div id="leftout" title="Frames narrower than the minimum width (--minwidth) are not drawn, nor are their callees: zoom in to see them. Search counts them."></div></div></div>
<div id="wrap"><canvas id="fg"></canvas></div>
<div id="tip"></div>
<script id="wick-data" type="application/json">)HTML";

constexpr std::string_view kPageTail = R"HTML(</script>
<script>
"use strict";
(function(){
const D=JSON.parse(document.getElementById("wick-data").textContent);
const names=D.names,kinds=D.kinds,unit=D.unit||"samples";
// A value as shown: time in ms or s, else a count of the unit ("12 samples").
function amt(v){
  if(unit!=="nanoseconds")return v+" "+unit;
  return v>=1e9?(v/1e9).toFixed(2)+" s":(v/1e6).toFixed(v>=1e6?2:3)+" ms";
}
// Flatten the tree in preorder: the subtree of i is [i,end[i]); x0 is the sample offset
// from the left edge, so zooming is a rescale, not a relayout.
const nm=[],tot=[],dep=[],x0=[],par=[],end=[],bas=[];
const diff=D.diff?true:false,baseTotal=diff?(D.diff.base_total||1):1;
(function(){
  const stack=[[D.tree,0,0,-1]];
  const open=[];
  while(stack.length){
    const [node,d,x,p]=stack.pop();
    while(open.length&&dep[open[open.length-1]]>=d){end[open.pop()]=nm.length;}
    const i=nm.length;
    nm.push(node[0]);tot.push(node[1]);dep.push(d);x0.push(x);par.push(p);end.push(0);bas.push(node[3]||0);
    open.push(i);
    const ch=node[2];
    let off=x;const xs=[];
    for(let k=0;k<ch.length;k++){xs.push(off);off+=ch[k][1];}
    for(let k=ch.length-1;k>=0;k--)stack.push([ch[k],d+1,xs[k],i]);
  }
  while(open.length)end[open.pop()]=nm.length;
})();
const N=nm.length,total=tot[0]||1;
const ROW=17;
// Frames with samples in the subtree of i (itself included): what leaving i out hides.
const live=new Float64Array(N);
for(let i=N-1;i>=0;i--){if(tot[i]>0)live[i]++;if(par[i]>=0)live[par[i]]+=live[i];}
const MINW=@MINWIDTH@;
// A name as shown: a thread name may hold any byte, and a line break or tab in it would split
// the tooltip and the details line; they show as \n, \r and \t. Search sees the name itself.
const shown=names.map(s=>s.replace(/[\n\r\t]/g,c=>c==="\n"?"\\n":c==="\r"?"\\r":"\\t"));
const canvas=document.getElementById("fg"),ctx=canvas.getContext("2d");
const tip=document.getElementById("tip"),details=document.getElementById("details");
const leftOutEl=document.getElementById("leftout");
document.getElementById("info").textContent=amt(tot[0])+", "+N+" frames"+(diff?" (base: "+amt(bas[0])+")":"");
if(D.event)document.getElementById("event").textContent="event: "+D.event+(unit==="nanoseconds"?", time":", "+unit);
// Differential: change of share (new minus base), colors scaled by the largest change.
function delta(i){return tot[i]/total-bas[i]/baseTotal;}
let maxDelta=0;
if(diff){
  for(let i=1;i<N;i++)maxDelta=Math.max(maxDelta,Math.abs(delta(i)));
  document.querySelector(".legend").innerHTML='<span style="background:rgb(255,90,90)">grew</span><span style="background:rgb(90,90,255)">shrank</span><span style="background:#ddd">unchanged</span>';
}
function diffColor(i){
  const d=delta(i);
  if(maxDelta===0||Math.abs(d)<1e-9)return "rgb(221,221,221)";
  const t=Math.round(200*(1-(0.15+0.85*Math.abs(d)/maxDelta)));
  return d>0?"rgb(255,"+t+","+t+")":"rgb("+t+","+t+",255)";
}
let zoom=0,matched=null,drawn=[];
// The rows of the unzoomed view at width fullW: the canvas is never shorter, so zooming into
// a shallow frame does not move it from under the pointer.
let fullW=-1,fullDepth=0;
function hash(s){let h=2166136261;for(let k=0;k<s.length;k++){h^=s.charCodeAt(k);h=Math.imul(h,16777619);}return (h>>>0)/4294967296;}
const colorCache=new Map();
function color(i){
  const n=nm[i];
  if(matched&&matched[n])return "rgb(230,0,230)";
  if(diff)return diffColor(i);
  let c=colorCache.get(n);if(c)return c;
  const h=hash(names[n]);
  switch(kinds[n]){
    case 0:c="hsl(0,0%,70%)";break;
    case 1:c="hsl(275,35%,"+(68+8*h)+"%)";break;
    case 3:c="hsl("+(200+20*h)+",55%,"+(62+12*h)+"%)";break;
    case 4:c="hsl("+(165+15*h)+",50%,"+(52+12*h)+"%)";break;
    case 5:c="hsl(0,0%,"+(70+10*h)+"%)";break;
    case 6:c="hsl("+(340+10*h)+",65%,"+(42+8*h)+"%)";break;
    default:c="hsl("+(50*h)+",85%,"+(55+12*(1-h))+"%)";
  }
  colorCache.set(n,c);return c;
}
function fmt(v){return (100*v).toFixed(v<0.001?3:2)+"%";}
function count(n,what){return n+" "+what+(n===1?"":"s");}
function amtCount(v){return unit==="nanoseconds"?amt(v):count(v,unit.replace(/s$/,""));}
// The view zoomed into z at width W: its boxes as [node, x, width, ...], the deepest drawn
// depth, and what the minimum width leaves out. A frame narrower than that is skipped with
// its whole subtree (its callees are narrower still).
function layout(z,W){
  const zt=tot[z]||1,scale=W/zt,zx=x0[z];
  const minT=MINW.percent?MINW.value*zt/100:MINW.value/scale;  // in samples
  const boxes=[];let depth=dep[z],outSamples=0,outFrames=0;
  // Ancestors of the zoomed frame span the whole width.
  for(let a=par[z];a>=0;a=par[a])boxes.push(a,0,W);
  for(let i=z;i<end[z];){
    if(!(tot[i]>0&&tot[i]>=minT)){outSamples+=tot[i];outFrames+=live[i];i=end[i];continue;}
    boxes.push(i,(x0[i]-zx)*scale,tot[i]*scale);
    if(dep[i]>depth)depth=dep[i];
    i++;
  }
  return {boxes:boxes,depth:depth,outSamples:outSamples,outFrames:outFrames};
}
function width(){return Math.max(200,canvas.parentNode.clientWidth-24);}
function draw(again){
  const W=width(),L=layout(zoom,W);
  if(W!==fullW){fullW=W;fullDepth=zoom===0?L.depth:layout(0,W).depth;}
  const depth=Math.max(L.depth,fullDepth),H=(depth+1)*ROW+4;
  const oldH=parseFloat(canvas.style.height)||0;
  const dpr=window.devicePixelRatio||1;
  canvas.width=W*dpr;canvas.height=H*dpr;canvas.style.height=H+"px";
  ctx.setTransform(dpr,0,0,dpr,0,0);
  ctx.clearRect(0,0,W,H);
  ctx.font="12px monospace";ctx.textBaseline="middle";
  drawn=[];for(let d=0;d<=depth;d++)drawn.push([]);
  function rect(i,x,w){
    const y=H-(dep[i]+1)*ROW;
    ctx.fillStyle=color(i);ctx.fillRect(x,y,Math.max(w-0.5,0.5),ROW-1);
    drawn[dep[i]].push([x,w,i]);
    if(w>28){
      const label=shown[nm[i]],max=Math.floor((w-6)/7.2);
      ctx.fillStyle="#000";
      ctx.fillText(label.length>max?label.slice(0,Math.max(0,max-2))+"..":label,x+3,y+ROW/2);
    }
  }
  for(let k=0;k<L.boxes.length;k+=3)rect(L.boxes[k],L.boxes[k+1],L.boxes[k+2]);
  leftOutEl.textContent=L.outFrames?"left out: "+count(L.outFrames,"frame")+" narrower than "+
      MINW.value+(MINW.percent?"%":" px")+" ("+amtCount(L.outSamples)+")":"";
  // The root is at the bottom and frames grow upward: when the height changes, keep the root
  // where it was on screen.
  if(oldH&&H!==oldH)window.scrollBy(0,H-oldH);
  // The new height may have shown or hidden the window's scroll bar: draw at the new width.
  if(!again&&width()!==W)draw(true);
}
function at(ev){
  const r=canvas.getBoundingClientRect(),x=ev.clientX-r.left,y=ev.clientY-r.top;
  const d=Math.floor((r.height-4-y)/ROW+4/ROW);
  if(d<0||d>=drawn.length)return -1;
  for(const [rx,w,i] of drawn[d])if(x>=rx&&x<rx+w)return i;
  return -1;
}
function describe(i){
  let s=shown[nm[i]]+"\n"+amt(tot[i])+", "+fmt(tot[i]/total)+" of all";
  if(zoom!==0)s+=", "+fmt(tot[i]/(tot[zoom]||1))+" of zoom";
  let self=tot[i];for(let c=i+1;c<end[i];c=end[c])self-=tot[c];
  if(self>0)s+="\nself: "+amt(self);
  if(diff){
    const d=delta(i);
    s+="\nbase: "+amt(bas[i])+", "+fmt(bas[i]/baseTotal)+" -> new "+fmt(tot[i]/total)+
       " ("+(d>=0?"+":"")+(100*d).toFixed(2)+" points)";
  }
  return s;
}
canvas.addEventListener("mousemove",ev=>{
  const i=at(ev);
  if(i<0){tip.style.display="none";canvas.style.cursor="";return;}
  canvas.style.cursor="pointer";
  tip.textContent="";describe(i).split("\n").forEach((l,k)=>{if(k)tip.appendChild(document.createElement("br"));tip.appendChild(document.createTextNode(l));});
  tip.style.display="block";
  const tx=Math.min(ev.clientX+12,window.innerWidth-tip.offsetWidth-8);
  tip.style.left=Math.max(0,tx)+"px";tip.style.top=(ev.clientY+14)+"px";
  details.textContent=describe(i).replace(/\n/g,"  |  ");
});
canvas.addEventListener("mouseleave",()=>{tip.style.display="none";});
canvas.addEventListener("click",ev=>{const i=at(ev);if(i>=0){zoom=i;draw();}});
document.getElementById("reset").onclick=()=>{zoom=0;draw();};
const search=document.getElementById("search"),matchEl=document.getElementById("match");
function doSearch(){
  const q=search.value;
  if(!q){matched=null;matchEl.textContent="";draw();return;}
  let re;try{re=new RegExp(q);}catch(e){matchEl.textContent="bad regex";return;}
  matched=new Uint8Array(names.length);
  let any=false;for(let n=0;n<names.length;n++)if(re.test(names[n])){matched[n]=1;any=true;}
  // Matched share: outermost matching frames only, so recursion is not counted twice.
  let sum=0;
  if(any)for(let i=0;i<N;)if(matched[nm[i]]&&kinds[nm[i]]>1){sum+=tot[i];i=end[i];}else i++;
  matchEl.textContent="matched "+fmt(sum/total)+" ("+amt(sum)+")";
  draw();
}
search.addEventListener("keydown",ev=>{if(ev.key==="Enter")doSearch();});
search.addEventListener("input",()=>{if(!search.value)doSearch();});
document.getElementById("clear").onclick=()=>{search.value="";doSearch();};
document.addEventListener("keydown",ev=>{if(ev.key==="Escape"){zoom=0;draw();}});
window.addEventListener("resize",()=>draw());
draw();
// Open on the root, at the bottom of a page that may be taller than the window.
window.scrollTo(0,document.documentElement.scrollHeight);
})();
</script>
</body></html>
)HTML";

void ReplaceAll(std::string* s, std::string_view from, std::string_view to) {
  for (size_t pos = s->find(from); pos != std::string::npos; pos = s->find(from, pos + to.size())) {
    s->replace(pos, from.size(), to);
  }
}

constexpr absl::string_view kMinWidthForms =
    "expected pixels (1, 0.5px) or a percentage of the drawn width (0.1%), not negative, at "
    "most 100%";

bool ValidMinWidth(const FlameMinWidth& w) {
  return std::isfinite(w.value) && w.value >= 0 && !(w.percent && w.value > 100);
}

absl::Status CheckMinWidth(const FlameMinWidth& w) {
  if (ValidMinWidth(w)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("minimum width ", w.value, w.percent ? "%" : " px", ": ", kMinWidthForms));
}

absl::Status WritePage(const FlameGraphOptions& opts, const std::string& json, std::ostream& out) {
  WICK_RETURN_IF_ERROR(CheckMinWidth(opts.min_width));
  std::string head(kPageHead);
  ReplaceAll(&head, "@TITLE@", HtmlEscape(opts.title, opts.text_not_utf8));
  std::string tail(kPageTail);
  ReplaceAll(&tail, "@MINWIDTH@",
             absl::StrCat("{\"value\":", opts.min_width.value,
                          ",\"percent\":", opts.min_width.percent ? "true" : "false", "}"));
  out << head << json << tail;
  out.flush();
  if (!out) return absl::DataLossError("writing the flame graph failed (stream error)");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FlameMinWidth> ParseFlameMinWidth(std::string_view text) {
  FlameMinWidth w;
  absl::string_view number = Sv(text);
  w.percent = absl::ConsumeSuffix(&number, "%");
  if (!w.percent) absl::ConsumeSuffix(&number, "px");
  if (number.empty() || !absl::SimpleAtod(number, &w.value) || !ValidMinWidth(w)) {
    return absl::InvalidArgumentError(
        absl::StrCat("minimum width '", Sv(text), "': ", kMinWidthForms));
  }
  return w;
}

std::string FlameGraphJson(const Profile& profile, const FlameGraphOptions& opts) {
  Tree tree;
  AddProfile(profile, opts, /*base=*/false, &tree);
  return tree.Json(profile, /*diff=*/false, opts.text_not_utf8);
}

std::string DiffFlameGraphJson(const Profile& base, const Profile& now,
                               const FlameGraphOptions& opts) {
  Tree tree;
  AddProfile(now, opts, /*base=*/false, &tree);
  AddProfile(base, opts, /*base=*/true, &tree);
  return tree.Json(now, /*diff=*/true, opts.text_not_utf8);
}

absl::Status WriteFlameGraph(const Profile& profile, std::ostream& out,
                             const FlameGraphOptions& opts) {
  return WritePage(opts, FlameGraphJson(profile, opts), out);
}

absl::Status WriteDiffFlameGraph(const Profile& base, const Profile& now, std::ostream& out,
                                 const FlameGraphOptions& opts) {
  return WritePage(opts, DiffFlameGraphJson(base, now, opts), out);
}

}  // namespace wick
