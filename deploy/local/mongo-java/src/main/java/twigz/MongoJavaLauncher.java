// twigz-mongo-java: runs mongo-java-server 1.47.0 with its in-memory backend, for local runs and tests.
//
// It is the project's second MongoDB-compatible server beside FerretDB: an independent
// implementation of the wire protocol and of the commands, so that the tests can catch behaviour
// that holds on one server only. Every database lives in this process's heap and is lost when it
// exits. Like twigz-ferretdb, once the listener is bound it prints one line,
// "ready mongodb://HOST:PORT/", on stdout: scripts wait for that line and read the bound address
// from it (useful with port 0). It stops cleanly, exit code 0, on SIGTERM or SIGINT.
package twigz;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CountDownLatch;
import sun.misc.Signal;

public final class MongoJavaLauncher {
    private static final String NAME = "twigz-mongo-java";
    private static final String USAGE = "usage: " + NAME + " [--listen HOST:PORT]\n"
            + "  --listen HOST:PORT  TCP address to listen on (default 127.0.0.1:27017; port 0 picks a"
            + " free port)\n";
    private static final int EX_USAGE = 64;

    private MongoJavaLauncher() {}

    public static void main(String[] args) throws InterruptedException {
        String listen = "127.0.0.1:27017";
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--listen") || arg.equals("-listen")) {
                if (i + 1 >= args.length) {
                    usage("--listen needs a value");
                }
                listen = args[++i];
            } else if (arg.startsWith("--listen=") || arg.startsWith("-listen=")) {
                listen = arg.substring(arg.indexOf('=') + 1);
            } else if (arg.equals("--help") || arg.equals("-h")) {
                System.out.print(USAGE);
                System.exit(0);
            } else {
                usage("unknown argument: " + arg);
            }
        }
        int colon = listen.lastIndexOf(':');
        if (colon <= 0) {
            usage("bad --listen " + listen + ": want HOST:PORT");
        }
        String host = listen.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port = -1;
        try {
            port = Integer.parseInt(listen.substring(colon + 1));
        } catch (NumberFormatException e) {
            // reported below
        }
        if (host.isEmpty() || port < 0 || port > 65535) {
            usage("bad --listen " + listen + ": want HOST:PORT with a port from 0 to 65535");
        }

        // slf4j-simple writes to stderr; keep it at warn unless -D on the command line says otherwise.
        // Set before the first logger exists (MongoServer's is created when its class initialises).
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        }
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");

        MongoServer server = new MongoServer(new MemoryBackend().version(ServerVersion.MONGO_5_0));
        InetSocketAddress bound;
        try {
            server.bind(host, port);
            bound = server.getLocalAddress();
        } catch (Exception e) { // netty throws the BindException (a checked one) undeclared
            System.err.println(NAME + ": cannot listen on " + listen + ": " + e.getMessage());
            server.shutdownNow();
            System.exit(1);
            return;
        }

        // A signal only asks for exit(0); the shutdown hook then closes the listener and the open
        // connections. Without the handlers the JVM would run the hook too but exit with 128+signal.
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown, NAME + "-shutdown"));
        for (String sig : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(sig), s -> System.exit(0));
        }

        System.out.println("ready mongodb://" + uriHost(bound.getAddress()) + ":" + bound.getPort() + "/");
        System.out.flush();

        // The server runs on its own threads; main only waits for the exit that a signal brings.
        new CountDownLatch(1).await();
    }

    private static String uriHost(InetAddress address) {
        String ip = address.getHostAddress();
        int zone = ip.indexOf('%');
        if (zone >= 0) {
            ip = ip.substring(0, zone);
        }
        return address instanceof Inet6Address ? "[" + ip + "]" : ip;
    }

    private static void usage(String message) {
        System.err.println(NAME + ": " + message);
        System.err.print(USAGE);
        System.exit(EX_USAGE);
    }
}
