package mqtt

import (
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Identity is the device identity a Greengrass core device already has: the
// nucleus's own IoT certificate, key, root CA and data endpoint. Fields it
// could not find are empty.
type Identity struct {
	Root     string // nucleus root, e.g. /greengrass/v2
	Endpoint string // host:port of the IoT data endpoint
	CertFile string
	KeyFile  string
	CAFile   string
}

// Greengrass finds the nucleus's device identity when the process runs as a
// Greengrass component (AWS_IOT_THING_NAME or SVCUID set); otherwise it
// returns an empty Identity. It looks, in order, at:
//
//   - the nucleus root: the directory of
//     AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT when absolute, else
//     the directory of GG_ROOT_CA_PATH, else /greengrass/v2;
//   - <root>/config/effectiveConfig.yaml: system.certificateFilePath,
//     system.privateKeyPath, system.rootCaPath and the nucleus's
//     iotDataEndpoint and mqtt.port (the file is usually readable by root
//     only);
//   - GG_ROOT_CA_PATH for the CA;
//   - <root>/thingCert.crt and <root>/privKey.key, the names the installer
//     uses with automatic provisioning.
//
// The private key is normally readable by root only: a component running as
// ggc_user needs the key made readable to its group, or explicit files.
func Greengrass(getenv func(string) string, exists func(string) bool) Identity {
	var id Identity
	if getenv("AWS_IOT_THING_NAME") == "" && getenv("SVCUID") == "" {
		return id
	}
	switch sock, ca := getenv("AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"), getenv("GG_ROOT_CA_PATH"); {
	case filepath.IsAbs(sock):
		id.Root = filepath.Dir(sock)
	case filepath.IsAbs(ca):
		id.Root = filepath.Dir(ca)
	default:
		id.Root = "/greengrass/v2"
	}
	if b, err := os.ReadFile(filepath.Join(id.Root, "config", "effectiveConfig.yaml")); err == nil {
		var c struct {
			System struct {
				CertificateFilePath string `yaml:"certificateFilePath"`
				PrivateKeyPath      string `yaml:"privateKeyPath"`
				RootCAPath          string `yaml:"rootCaPath"`
			} `yaml:"system"`
			Services map[string]struct {
				Configuration struct {
					IoTDataEndpoint string `yaml:"iotDataEndpoint"`
					MQTT            struct {
						Port int `yaml:"port"`
					} `yaml:"mqtt"`
				} `yaml:"configuration"`
			} `yaml:"services"`
		}
		if yaml.Unmarshal(b, &c) == nil {
			id.CertFile, id.KeyFile, id.CAFile = c.System.CertificateFilePath, c.System.PrivateKeyPath, c.System.RootCAPath
			if n := c.Services["aws.greengrass.Nucleus"].Configuration; n.IoTDataEndpoint != "" {
				port := DefaultPort
				if n.MQTT.Port > 0 {
					port = n.MQTT.Port
				}
				id.Endpoint = n.IoTDataEndpoint + ":" + strconv.Itoa(port)
			}
		}
	}
	if id.CAFile == "" {
		id.CAFile = getenv("GG_ROOT_CA_PATH")
	}
	if id.CertFile == "" && id.KeyFile == "" {
		cert, key := filepath.Join(id.Root, "thingCert.crt"), filepath.Join(id.Root, "privKey.key")
		if exists(cert) && exists(key) {
			id.CertFile, id.KeyFile = cert, key
		}
	}
	return id
}
