// Starts Amazon's DynamoDB Local bound to 127.0.0.1 only.
//
// Why this exists: DynamoDBLocal.jar has no option for the listen address.
// Its DynamoDBProxyServer builds `new org.eclipse.jetty.server.Server(port)`,
// which listens on every interface, and this project's services must listen on
// loopback only. So we let DynamoDB Local parse its own command line
// (-inMemory, -sharedDb, -port ...) exactly as its ServerRunner does, then pin
// the Jetty connector's host before starting it.
//
// The Jetty server sits in a private field; if a future DynamoDB Local renames
// it, this fails at start-up rather than quietly listening on all interfaces.
//
// Compiled by infra/services.sh install against the DynamoDBLocal.jar it fetched.

import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import software.amazon.dynamodb.services.local.main.CommandLineInput;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class DynamoDBLocalLoopback {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("ddblocal.host", "127.0.0.1");

        // Same validation ServerRunner.main does first; false means it already
        // printed -help / -version output, or the arguments were bad.
        if (!new CommandLineInput(args).init()) {
            return;
        }
        // Telemetry is never configured here (ServerRunner.main would do that),
        // so nothing tries to reach the network; -disableTelemetry is passed too.
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);

        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server jetty = (Server) field.get(proxy);

        Connector[] connectors = jetty.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local created no Jetty connector");
        }
        for (Connector connector : connectors) {
            if (!(connector instanceof ServerConnector)) {
                throw new IllegalStateException(
                        "unexpected Jetty connector " + connector.getClass().getName());
            }
            ((ServerConnector) connector).setHost(host);
        }

        proxy.start();
        System.out.println("DynamoDB Local listening on " + host + ":"
                + ((ServerConnector) connectors[0]).getPort());
        proxy.join();
    }
}
