# On the device machine: source to run steps within a call's time budget (BUDGET seconds, default $1).
#   within CMD...   runs CMD in what is left, or skips it (and says so) when under 30 s are left
BUDGET="${BUDGET:-${1:-520}}"
budget_start=$SECONDS
left() { echo $((BUDGET - (SECONDS - budget_start))); }
within() {  # (timeout 0 would mean no limit: never reached, a step is skipped before)
  local l
  l=$(left)
  if [ "$l" -lt 30 ]; then echo "skipped, $l s left: $*"; return 0; fi
  timeout "$l" "$@"
}
