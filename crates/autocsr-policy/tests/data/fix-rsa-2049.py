import subprocess
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography import x509
from cryptography.x509.oid import NameOID
def prime(bits):
    return int(subprocess.check_output(["openssl","prime","-generate","-bits",str(bits)]).strip())
e=65537
while True:
    p=prime(1025); q=prime(1024)
    n=p*q
    if n.bit_length()==2049 and (p-1)%e and (q-1)%e: break
# fix: 1025+1025 gives 2049 or 2050 bits
d=pow(e,-1,(p-1)*(q-1))
priv=rsa.RSAPrivateNumbers(p,q,d,d%(p-1),d%(q-1),pow(q,-1,p),rsa.RSAPublicNumbers(e,n)).private_key()
csr=(x509.CertificateSigningRequestBuilder()
 .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,"odd.example.com")]))
 .add_extension(x509.SubjectAlternativeName([x509.DNSName("odd.example.com")]),critical=False)
 .sign(priv,hashes.SHA256()))
open("bad-key-rsa-2049-bits.pem","wb").write(csr.public_bytes(serialization.Encoding.PEM))
open("rsa-2049.key","wb").write(priv.private_bytes(serialization.Encoding.PEM,serialization.PrivateFormat.TraditionalOpenSSL,serialization.NoEncryption()))
print(n.bit_length())
