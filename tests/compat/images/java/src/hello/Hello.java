package hello;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.crypto.Cipher;

/** A tiny HTTP server: the body proves the JVM read its jar, its crypto policy and the network. */
public final class Hello {
    private static final int PORT = 8080;

    private Hello() {
    }

    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(PORT), 16);
        server.createContext("/", Hello::root);
        server.createContext("/ping", ex -> reply(ex, "pong\n"));
        server.createContext("/loopback", Hello::loopback);
        // Several threads: /loopback waits for /ping on this same server.
        ExecutorService pool = Executors.newFixedThreadPool(4);
        server.setExecutor(pool);
        server.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop(0);
            pool.shutdownNow();
        }));
        System.out.println("hello: listening on " + PORT);
    }

    private static void root(HttpExchange ex) throws IOException {
        String resource;
        try (InputStream in = Hello.class.getResourceAsStream("/greeting.txt")) {
            resource = in == null ? "missing" : new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
        }
        String aes;
        try {
            // Initialises JCE: reads conf/security/java.security and lists the
            // conf/security/policy/<crypto.policy>/ directory (symlinks on Debian).
            aes = Integer.toString(Cipher.getMaxAllowedKeyLength("AES"));
        } catch (Exception | Error e) {
            aes = "error " + e;
        }
        reply(ex, "hello from shielded java\nresource: " + resource + "\naes-max: " + aes + "\n");
    }

    /** One outbound TCP connect, to this server over loopback (no DNS). */
    private static void loopback(HttpExchange ex) throws IOException {
        String result;
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), PORT), 5000);
            s.setSoTimeout(5000);
            OutputStream out = s.getOutputStream();
            out.write("GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
            result = answer.endsWith("pong\n") ? "loopback ok" : "loopback bad answer";
        } catch (IOException e) {
            result = "loopback failed: " + e;
        }
        reply(ex, result + "\n");
    }

    private static void reply(HttpExchange ex, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        ex.sendResponseHeaders(200, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }
}
