#!/usr/bin/env bash
# Debug (issue 13 section 4): one eager decode step of the persistent kernel with and without a
# switch (default XLSTM_PD_POOL_IN=1), its words compared region by region (q, k, v, o, gates,
# h, xb, act, counters), then the state and the logits. Configs: scripts/debug/pd_*_1.json (one
# block, so the words are that block's). Usage: pd_dump_regions.sh [VAR=VALUE]
switch=${1:-XLSTM_PD_POOL_IN=1}
for cfg in scripts/debug/pd_3x32_1.json scripts/debug/pd_4x128_1.json; do
  for v in base other; do
    rm -f /tmp/pdr_$v.bin /tmp/pdr_$v.bin.pre
    env=(XLSTM_GRAPHS=off XLSTM_PD_DUMP=/tmp/pdr_$v.bin)
    [ $v = other ] && env+=("$switch")
    env "${env[@]}" build/bin/xlstm bench --config $cfg --device cuda --weights bf16 \
      --prompt-len 5 --gen 2 --batch 1 --reps 1 > /tmp/pdr_$v.txt 2>&1 || cat /tmp/pdr_$v.txt
  done
  CFG=$cfg python3 - <<'PY'
import numpy as np, json, os
c=json.load(open(os.environ["CFG"]))
E=c["embedding_dim"]; NH=c["num_heads"]; L=c["num_blocks"]; V=c["vocab_size"]
qk=int(E*c["qk_dim_factor"]); v=int(E*c["v_dim_factor"]); m=c["ffn_round_up_to_multiple_of"]
F=-(-int(E*c["ffn_proj_factor"])//m)*m
W=2*qk+2*v+2*NH; words=W+v+E+F+2*L+1
b=np.fromfile("/tmp/pdr_base.bin",np.uint8); o=np.fromfile("/tmp/pdr_other.bin",np.uint8)
chunk=len(b)//2
print(os.environ["CFG"], "E",E,"F",F,"W",W,"words",words,"chunk",chunk)
pb=np.fromfile("/tmp/pdr_base.bin.pre",np.uint8); po=np.fromfile("/tmp/pdr_other.bin.pre",np.uint8)
print(" state before each launch: bytes differ", int(np.sum(pb!=po)), "of", pb.size)
for step in range(2):
  B=b[step*chunk:(step+1)*chunk]; O=o[step*chunk:(step+1)*chunk]
  wb=B[:words*8].view(np.uint64); wo=O[:words*8].view(np.uint64)
  regs=[("q",0,qk),("k",qk,2*qk),("v",2*qk,2*qk+v),("o",2*qk+v,2*qk+2*v),("gates",2*qk+2*v,W),("h",W,W+v),("xb",W+v,W+v+E),("act",W+v+E,W+v+E+F),("counters",W+v+E+F,words)]
  out=[]
  for n,s,e in regs:
    d=np.nonzero(wb[s:e]!=wo[s:e])[0]
    fl=np.unique(wo[s:e]>>32)
    out.append(f"{n}:{len(d)}/{e-s} flags{list(fl[:3])}" + (f" first@{s+d[0]}" if len(d) else ""))
  sb=B[words*8:chunk-V*4].view(np.float32); so=O[words*8:chunk-V*4].view(np.float32)
  lb=B[chunk-V*4:].view(np.float32); lo=O[chunk-V*4:].view(np.float32)
  print(" step",step," ".join(out))
  print("   state differ", int(np.sum(sb!=so)), "of", sb.size, " logits differ", int(np.sum(lb!=lo)), "max|d|", float(np.max(np.abs(lb-lo))))
PY
done
