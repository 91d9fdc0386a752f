# Sourced by initramfs.sh and kvm-box.sh (one home for this): install stock kernel modules with
# their dependencies from modules.dep, uncompressed (busybox insmod/modprobe may lack the
# decompressor), and a modules.dep trimmed to them with the .ko names as stored.
# Needs: KMODS (the kernel's modules/ directory, with modules.dep), KVER, die().
#
#   install_stock_modules MODROOT MODULE...
#
# Sets STOCK_MODULE_FILES: the installed .ko files (paths under MODROOT), for callers that strip.

install_stock_modules() {
    local modroot=$1 line path deps d m
    shift
    declare -gA STOCK_WANT=()
    STOCK_MODULE_FILES=()
    _stock_dep_line() { grep -E "(^|/)$1\.ko(\.(xz|zst|gz))?:" "$KMODS/modules.dep" | head -n1; }
    _stock_add() {
        local line path deps d
        line=$(_stock_dep_line "$1") || die "module $1 not in $KMODS/modules.dep (is it built as a module in $KVER?)"
        path=${line%%:*}
        [ -n "${STOCK_WANT[$path]:-}" ] && return 0
        STOCK_WANT[$path]=1
        deps=${line#*:}
        for d in $deps; do
            d=$(basename "$d"); d=${d%%.ko*}
            _stock_add "$d"
        done
    }
    for m in "$@"; do _stock_add "$m"; done
    mkdir -p "$modroot"
    for path in "${!STOCK_WANT[@]}"; do
        mkdir -p "$modroot/$(dirname "$path")"
        case "$path" in
            *.ko.xz)  xz -dc "$KMODS/$path" > "$modroot/${path%.xz}" ;;
            *.ko.zst) zstd -qdc "$KMODS/$path" > "$modroot/${path%.zst}" ;;
            *.ko.gz)  gzip -dc "$KMODS/$path" > "$modroot/${path%.gz}" ;;
            *.ko)     cp "$KMODS/$path" "$modroot/$path" ;;
            *) die "unexpected module file name in modules.dep: $path" ;;
        esac
        STOCK_MODULE_FILES+=("$modroot/${path%.ko*}.ko")
    done
    # order does not matter to busybox modprobe
    for path in "${!STOCK_WANT[@]}"; do
        grep -E "^${path//./\\.}:" "$KMODS/modules.dep"
    done | sed -E 's/\.ko\.(xz|zst|gz)/.ko/g' | sort > "$modroot/modules.dep"
    for m in modules.order modules.builtin modules.builtin.modinfo; do
        if [ -f "$KMODS/$m" ]; then cp "$KMODS/$m" "$modroot/$m"; fi
    done
}
