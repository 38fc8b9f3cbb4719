// Prints each certificate's subject as Java's X500Principal.getName() gives it (RFC 2253),
// one line per file: the x509 ACL id ZooKeeper's X509AuthenticationProvider would use.
//   java SubjectName.java cert.pem...
import java.io.FileInputStream;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;

public final class SubjectName {
  public static void main(String[] args) throws Exception {
    CertificateFactory factory = CertificateFactory.getInstance("X.509");
    for (String file : args) {
      try (FileInputStream in = new FileInputStream(file)) {
        X509Certificate cert = (X509Certificate) factory.generateCertificate(in);
        System.out.println(cert.getSubjectX500Principal().getName());
      }
    }
  }
}
