/**
 * The kubelet device plugin API v1beta1 (packages/agent/proto/deviceplugin/v1beta1/api.proto,
 * its source named there), held as text so the compiled agent and a bundle need no .proto
 * file beside them. test/k8s/device-plugin/api-proto.test.ts fails when this differs from the file.
 */
export const DEVICE_PLUGIN_API_PROTO = `// The kubelet device plugin API, version v1beta1, as the edgefleet device plugin speaks it.
//
// Source: kubernetes/kubernetes, staging/src/k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1/api.proto
// at commit 0619cbbff1ffe94b1745682e1cd1aea1e68cce97 (published as k8s.io/kubelet), Apache-2.0.
// The upstream file carries no license header of its own at that commit and no gogoproto
// options, so @grpc/proto-loader reads it as it is. This copy keeps every package, service,
// rpc, message, field name, field number and type of the upstream file (the wire contract);
// the comments are ours and shortened. See README.md beside this file.
syntax = "proto3";

package v1beta1;
option go_package = "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1";

// Served by the kubelet on kubelet.sock; a plugin registers its resource here.
service Registration {
	rpc Register(RegisterRequest) returns (Empty) {}
}

message DevicePluginOptions {
	bool pre_start_required = 1;
	bool get_preferred_allocation_available = 2;
}

message RegisterRequest {
	// API version the plugin speaks: "v1beta1".
	string version = 1;
	// File name of the plugin's socket in the device plugin folder.
	string endpoint = 2;
	// Extended resource name, e.g. "edgefleet.dev/hailo8l".
	string resource_name = 3;
	DevicePluginOptions options = 4;
}

message Empty {
}

// Served by a plugin on its own socket; the kubelet calls it.
service DevicePlugin {
	rpc GetDevicePluginOptions(Empty) returns (DevicePluginOptions) {}
	rpc ListAndWatch(Empty) returns (stream ListAndWatchResponse) {}
	rpc GetPreferredAllocation(PreferredAllocationRequest) returns (PreferredAllocationResponse) {}
	rpc Allocate(AllocateRequest) returns (AllocateResponse) {}
	rpc PreStartContainer(PreStartContainerRequest) returns (PreStartContainerResponse) {}
}

// The whole device list, sent again whenever a device's health changes.
message ListAndWatchResponse {
	repeated Device devices = 1;
}

message TopologyInfo {
	repeated NUMANode nodes = 1;
}

message NUMANode {
	int64 ID = 1;
}

message Device {
	// At most 63 characters.
	string ID = 1;
	// "Healthy" or "Unhealthy".
	string health = 2;
	TopologyInfo topology = 3;
}

message PreStartContainerRequest {
	repeated string devices_ids = 1;
}

message PreStartContainerResponse {
}

message PreferredAllocationRequest {
	repeated ContainerPreferredAllocationRequest container_requests = 1;
}

message ContainerPreferredAllocationRequest {
	repeated string available_deviceIDs = 1;
	repeated string must_include_deviceIDs = 2;
	int32 allocation_size = 3;
}

message PreferredAllocationResponse {
	repeated ContainerPreferredAllocationResponse container_responses = 1;
}

message ContainerPreferredAllocationResponse {
	repeated string deviceIDs = 1;
}

message AllocateRequest {
	repeated ContainerAllocateRequest container_requests = 1;
}

message ContainerAllocateRequest {
	repeated string devices_ids = 1;
}

message CDIDevice {
	string name = 1;
}

message AllocateResponse {
	repeated ContainerAllocateResponse container_responses = 1;
}

message ContainerAllocateResponse {
	map<string, string> envs = 1;
	repeated Mount mounts = 2;
	repeated DeviceSpec devices = 3;
	map<string, string> annotations = 4;
	repeated CDIDevice cdi_devices = 5;
}

message Mount {
	string container_path = 1;
	string host_path = 2;
	bool read_only = 3;
}

message DeviceSpec {
	string container_path = 1;
	string host_path = 2;
	// Cgroup permissions: any of r, w, m.
	string permissions = 3;
}
`;
