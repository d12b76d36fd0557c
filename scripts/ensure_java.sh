#!/bin/sh
# Make sure a Java runtime (17 or newer) is available for the Spark engine's local mode (pyspark starts a JVM).
# Installs Debian's headless JRE when missing and we can (root + apt-get); otherwise prints a note. Always exits 0:
# the Spark tests skip without Java, or fail loudly under CI.
java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}

if command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 17 ] 2>/dev/null; then
    exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_java: installing a headless Java runtime (for the Spark engine)..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1
    for package in openjdk-17-jre-headless openjdk-21-jre-headless default-jre-headless; do
        if apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
            && command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 17 ] 2>/dev/null; then
            echo "ensure_java: installed $(java -version 2>&1 | head -1)"
            exit 0
        fi
    done
    echo "ensure_java: could not install Java 17+; the Spark tests will be skipped (or fail under CI)"
else
    echo "ensure_java: Java 17+ not found and cannot install it (need root and apt-get); the Spark tests will be skipped"
fi
exit 0
