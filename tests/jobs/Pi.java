/*
 * A plain JVM main class for cluster-mode submissions through the REST
 * server: estimates pi, or with "fail" as its argument exits with status 3,
 * or with "sleep N" sleeps N seconds first.
 */
public class Pi {
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("fail")) {
            System.err.println("failing on purpose");
            System.exit(3);
        }
        if (args.length > 1 && args[0].equals("sleep")) {
            Thread.sleep(Long.parseLong(args[1]) * 1000);
            return;
        }
        long n = args.length > 0 ? Long.parseLong(args[0]) : 1000000;
        long inside = 0;
        java.util.Random r = new java.util.Random(1);
        for (long i = 0; i < n; i++) {
            double x = r.nextDouble(), y = r.nextDouble();
            if (x * x + y * y <= 1) {
                inside++;
            }
        }
        System.out.println("Pi is roughly " + 4.0 * inside / n);
    }
}
