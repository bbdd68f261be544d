#!/usr/bin/env bash
# The installed package works for a user: `cmake --install` into a scratch prefix, then the
# example built against it twice (find_package(xlstm) and pkg-config), then run on the bundled
# model. Usage (ctest does this): tests/install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
prefix=$build/install-test
rm -rf "$prefix" && mkdir -p "$prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S "$src/examples" -B "$prefix/example-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/example-build" >/dev/null
out=$("$prefix/example-build/generate_example" "$src/models/tiny-shakespeare" "ROMEO:" 8)
echo "find_package: $out"
[ -n "$out" ] && [ "${out#ROMEO:}" != "$out" ]
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
c++ -std=c++20 $(pkg-config --cflags xlstm) "$src/examples/generate.cpp" -o "$prefix/generate_pc" \
  $(pkg-config --libs xlstm)
out2=$("$prefix/generate_pc" "$src/models/tiny-shakespeare" "ROMEO:" 8)
echo "pkg-config: $out2"
[ "$out" = "$out2" ]
"$prefix/bin/xlstm" info -m "$src/models/tiny-shakespeare" | grep -q "layout"
echo "installed package OK"
